import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Header } from 'tar-stream';
import {
  checkDropletComplete,
  createEntryRuleState,
  LIFECYCLE_RULE,
  rewriteArchiveEntry,
  rewriteDropletEntry,
  type EntryRuleState,
} from '../../../src/conversion/droplet-entry-rules.ts';
import { InvalidDropletError } from '../../../src/errors/registry-error.ts';

const MTIME = new Date('2023-03-04T05:06:07Z');

function header(fields: Partial<Header> & Pick<Header, 'name'>): Header {
  return {
    size: 0,
    mode: 0o644,
    mtime: MTIME,
    type: 'file',
    linkname: '',
    uid: 2000,
    gid: 2000,
    uname: 'vcap',
    gname: 'vcap',
    devmajor: 0,
    devminor: 0,
    pax: null,
    ...fields,
  };
}

function rewrite(fields: Partial<Header> & Pick<Header, 'name'>, state: EntryRuleState = createEntryRuleState()) {
  return rewriteDropletEntry(header(fields), state);
}

function rejects(fields: Partial<Header> & Pick<Header, 'name'>, message: RegExp, state?: EntryRuleState): void {
  assert.throws(() => rewrite(fields, state), (error: unknown) => {
    assert.ok(error instanceof InvalidDropletError, `expected an InvalidDropletError, got ${String(error)}`);
    assert.match(error.message, message);
    return true;
  });
}

describe('rewriteDropletEntry', () => {
  it('re-roots droplet paths under home/vcap, with or without the leading ./', () => {
    assert.equal(rewrite({ name: './app/server.js' })?.name, 'home/vcap/app/server.js');
    assert.equal(rewrite({ name: 'app/server.js' })?.name, 'home/vcap/app/server.js');
    assert.equal(rewrite({ name: './staging_info.yml' })?.name, 'home/vcap/staging_info.yml');
  });

  it('keeps the trailing slash on directories, adding it where the droplet left it out', () => {
    assert.equal(rewrite({ name: './app/', type: 'directory', mode: 0o755 })?.name, 'home/vcap/app/');
    assert.equal(rewrite({ name: './deps', type: 'directory', mode: 0o755 })?.name, 'home/vcap/deps/');
  });

  it('drops the droplet root entry however it is spelled', () => {
    for (const name of ['./', '.', './/', '']) assert.equal(rewrite({ name, type: 'directory' }), null, name);
  });

  it('refuses a root entry that is not a directory', () => {
    rejects({ name: './' }, /droplet entry "\.\/" names the droplet root but is not a directory/);
  });

  it('normalises ./, // and inner .. in names', () => {
    assert.equal(rewrite({ name: './app//lib/./x.js' })?.name, 'home/vcap/app/lib/x.js');
    assert.equal(rewrite({ name: './app/lib/../x.js' })?.name, 'home/vcap/app/x.js');
  });

  it('keeps mode, mtime and size but makes every entry vcap-owned', () => {
    const rewritten = rewrite({ name: './app/run.sh', mode: 0o4755, size: 42, uid: 0, gid: 0, uname: 'root', gname: 'root' });
    assert.deepEqual(rewritten, {
      name: 'home/vcap/app/run.sh',
      type: 'file',
      mode: 0o4755,
      mtime: MTIME,
      size: 42,
      uid: 2000,
      gid: 2000,
      uname: 'vcap',
      gname: 'vcap',
    });
  });

  it('does not carry PAX records of the input (which could override the owner) into the layer', () => {
    const rewritten = rewrite({ name: './app/x', pax: { uid: '0', gid: '0', 'SCHILY.xattr.user.x': 'y' } });
    assert.equal(rewritten && 'pax' in rewritten, false);
  });

  it('writes contiguous files as plain files', () => {
    assert.equal(rewrite({ name: './app/x', type: 'contiguous-file', size: 3 })?.type, 'file');
  });

  it('gives links and directories no body, whatever the input header claimed', () => {
    const state = createEntryRuleState();
    rewrite({ name: './app/a', size: 5 }, state);
    assert.equal(rewrite({ name: './app/b', type: 'link', linkname: './app/a', size: 5 }, state)?.size, 0);
    assert.equal(rewrite({ name: './app/d/', type: 'directory', size: 512 })?.size, 0);
  });

  it('keeps mtimes the tar header can hold and clamps the ones it cannot', () => {
    assert.deepEqual(rewrite({ name: './a', mtime: new Date(-5000) })?.mtime, new Date(0));
    assert.deepEqual(rewrite({ name: './a', mtime: new Date(8e12) })?.mtime, new Date((2 ** 31 - 1) * 1000));
  });

  describe('symlinks', () => {
    it('leaves targets untouched, relative or absolute', () => {
      assert.equal(rewrite({ name: './app/rel', type: 'symlink', linkname: '../deps/0/bin' })?.linkname, '../deps/0/bin');
      assert.equal(rewrite({ name: './app/abs', type: 'symlink', linkname: '/etc/ssl/certs' })?.linkname, '/etc/ssl/certs');
      assert.equal(rewrite({ name: './app/up', type: 'symlink', linkname: '../../../../etc/passwd' })?.linkname, '../../../../etc/passwd');
    });

    it('refuses an empty target', () => {
      rejects({ name: './app/l', type: 'symlink', linkname: '' }, /symlink "\.\/app\/l" in the droplet has an empty target/);
    });
  });

  describe('hard links', () => {
    it('rewrites the target like a name when it is earlier in the droplet', () => {
      const state = createEntryRuleState();
      rewrite({ name: './app/a' }, state);
      assert.equal(rewrite({ name: './app/b', type: 'link', linkname: './app/a' }, state)?.linkname, 'home/vcap/app/a');
      assert.equal(rewrite({ name: './app/c', type: 'link', linkname: 'app//b' }, state)?.linkname, 'home/vcap/app/b');
    });

    it('refuses a target that only comes later', () => {
      rejects({ name: './app/b', type: 'link', linkname: './app/a' }, /hard link "\.\/app\/b" points to "\.\/app\/a" which is not earlier in the droplet/);
    });

    it('refuses an empty target', () => {
      rejects({ name: './app/b', type: 'link', linkname: null as unknown as string }, /hard link "\.\/app\/b" in the droplet has an empty target/);
    });

    it('refuses a link to itself', () => {
      rejects({ name: './app/b', type: 'link', linkname: './app/b' }, /which is not earlier in the droplet/);
    });

    it('refuses a directory target', () => {
      const state = createEntryRuleState();
      rewrite({ name: './app/', type: 'directory' }, state);
      rejects({ name: './app/b', type: 'link', linkname: './app' }, /hard link "\.\/app\/b" points to "\.\/app", which is a directory/, state);
    });

    it('refuses targets outside the droplet', () => {
      rejects({ name: './app/b', type: 'link', linkname: '/etc/passwd' }, /points to "\/etc\/passwd", which is an absolute path/);
      rejects({ name: './app/b', type: 'link', linkname: '../etc/passwd' }, /points to "\.\.\/etc\/passwd", which escapes the droplet through "\.\."/);
    });

    it('refuses a target whose directory the droplet replaced with a symlink after extracting it', () => {
      // On extraction the link's target resolves through app/d: a hard link to /etc/f of the rootfs.
      const state = createEntryRuleState();
      rewrite({ name: './app/d/', type: 'directory' }, state);
      rewrite({ name: './app/d/f' }, state);
      rewrite({ name: './app/d', type: 'symlink', linkname: '/etc' }, state);
      rejects({ name: './app/l', type: 'link', linkname: './app/d/f' }, /hard link "\.\/app\/l" points to "\.\/app\/d\/f", which lies under the symlink "app\/d" earlier in the droplet/, state);
    });

    it('refuses a target under a symlink at the time of the link', () => {
      const state = createEntryRuleState();
      rewrite({ name: './app/x', type: 'symlink', linkname: '/etc' }, state);
      rejects({ name: './app/l', type: 'link', linkname: './app/x/passwd' }, /points to "\.\/app\/x\/passwd", which lies under the symlink "app\/x" earlier in the droplet/, state);
    });

    it('refuses a target whose directory the droplet replaced with a file, as extraction removes what was under it', () => {
      const state = createEntryRuleState();
      rewrite({ name: './app/d/f' }, state);
      rewrite({ name: './app/d' }, state);
      rejects({ name: './app/l', type: 'link', linkname: './app/d/f' }, /points to "\.\/app\/d\/f", which lies under "app\/d", which is a file \(not a directory\)/, state);
    });

    it('keeps targets under a directory the droplet declares twice', () => {
      const state = createEntryRuleState();
      rewrite({ name: './app/d/', type: 'directory' }, state);
      rewrite({ name: './app/d/f' }, state);
      rewrite({ name: './app/d/', type: 'directory', mode: 0o700 }, state);
      assert.equal(rewrite({ name: './app/l', type: 'link', linkname: './app/d/f' }, state)?.linkname, 'home/vcap/app/d/f');
    });
  });

  describe('entries that must not reach an image', () => {
    it('refuses paths escaping the droplet with ..', () => {
      rejects({ name: '../x' }, /droplet entry "\.\.\/x" escapes the droplet through "\.\."/);
      rejects({ name: './app/../../etc/passwd' }, /droplet entry "\.\/app\/\.\.\/\.\.\/etc\/passwd" escapes the droplet/);
    });

    it('refuses absolute paths', () => {
      rejects({ name: '/etc/passwd' }, /droplet entry "\/etc\/passwd" is an absolute path/);
    });

    it('refuses names Docker would read as whiteouts', () => {
      rejects({ name: './app/.wh.x' }, /droplet entry "\.\/app\/\.wh\.x" has a path component starting with "\.wh\."/);
      rejects({ name: 'app/.wh..wh..opq' }, /whiteout/);
      rejects({ name: './.wh.app/', type: 'directory' }, /whiteout/);
    });

    it('allows names that merely contain .wh.', () => {
      assert.equal(rewrite({ name: './app/a.wh.b' })?.name, 'home/vcap/app/a.wh.b');
    });

    it('refuses devices and fifos', () => {
      rejects({ name: './app/null', type: 'character-device' }, /droplet entry "\.\/app\/null" is a character device/);
      rejects({ name: './app/sda', type: 'block-device' }, /is a block device/);
      rejects({ name: './app/pipe', type: 'fifo' }, /is a fifo/);
    });

    it('refuses entry types tar-stream does not know', () => {
      rejects({ name: './app/x', type: null as unknown as Header['type'] }, /droplet entry "\.\/app\/x" has an unsupported tar entry type/);
    });

    it('refuses PAX sparse files, whose body would unpack wrong', () => {
      rejects({ name: './app/sparse', pax: { 'GNU.sparse.major': '1', 'GNU.sparse.minor': '0' } }, /is a sparse file/);
    });

    it('refuses NUL bytes in names and link targets, which a layer header would cut', () => {
      rejects({ name: './app/x\u0000y' }, /droplet entry "\.\/app\/x\\u0000y" has a NUL byte in its name/);
      rejects({ name: './app/l', type: 'symlink', linkname: '/etc\u0000x' }, /has a NUL byte in its link target/);
    });

    it('refuses entries under a symlink the droplet made earlier, until an entry of that path replaces it', () => {
      const state = createEntryRuleState();
      rewrite({ name: './app/', type: 'directory' }, state);
      rewrite({ name: './app/x', type: 'symlink', linkname: '/etc' }, state);
      rejects({ name: './app/x/passwd' }, /droplet entry "\.\/app\/x\/passwd" lies under the symlink "app\/x" earlier in the droplet/, state);
      rejects({ name: './app/x/deep/shadow', type: 'link', linkname: './app/y' }, /lies under the symlink "app\/x"/, state);
      assert.equal(rewrite({ name: './app/xy' }, state)?.name, 'home/vcap/app/xy', 'a sibling sharing the prefix is fine');
      rewrite({ name: './app/x/', type: 'directory' }, state);
      assert.equal(rewrite({ name: './app/x/passwd' }, state)?.name, 'home/vcap/app/x/passwd');
    });

    it('refuses entries under a file, which no extraction can create', () => {
      const state = createEntryRuleState();
      rewrite({ name: './app/x' }, state);
      rejects({ name: './app/x/y' }, /droplet entry "\.\/app\/x\/y" lies under "app\/x", which is a file \(not a directory\) at that point of the droplet/, state);
    });
  });

  describe('the app directory', () => {
    it('refuses an entry that normalises to app but is not a directory', () => {
      rejects({ name: './app/sub/..' }, /droplet entry "\.\/app\/sub\/\.\." replaces the droplet's app\/ directory with a file/);
      rejects({ name: 'app', type: 'symlink', linkname: '/etc' }, /replaces the droplet's app\/ directory with a symlink/);
      const state = createEntryRuleState();
      rewrite({ name: './staging_info.yml' }, state);
      rejects({ name: './app/.', type: 'link', linkname: './staging_info.yml' }, /replaces the droplet's app\/ directory with a hard link/, state);
    });

    it('takes app spelled any way, or made by the entries under it', () => {
      const spelled = createEntryRuleState();
      assert.equal(rewrite({ name: './app/sub/..', type: 'directory' }, spelled)?.name, 'home/vcap/app/');
      checkDropletComplete(spelled);
      const implicit = createEntryRuleState();
      rewrite({ name: './app/server.js' }, implicit);
      checkDropletComplete(implicit);
    });

    it('refuses a droplet with no app once its entries are through', () => {
      const state = createEntryRuleState();
      rewrite({ name: './', type: 'directory' }, state);
      rewrite({ name: './deps/0/bin/node' }, state);
      rewrite({ name: './staging_info.yml' }, state);
      assert.throws(() => checkDropletComplete(state), (error: unknown) => error instanceof InvalidDropletError && /^droplet has no app\/ directory/.test(error.message));
    });
  });

  describe('bounds on names and on what the rule remembers', () => {
    const named = (bytes: number, prefix = './app/') => prefix + 'n'.repeat(bytes - prefix.length);

    it('takes names and link targets up to PATH_MAX (4096 bytes) and refuses longer ones', () => {
      assert.equal(rewrite({ name: named(4096) })?.name, `home/vcap/${named(4096).slice(2)}`);
      rejects({ name: named(4097) }, /droplet entry "\.\/app\/n+"… \(4097 bytes\) has a name of 4097 bytes, over the limit of 4096 \(PATH_MAX\)$/);
      rejects({ name: `./app/${'日'.repeat(1400)}` }, /has a name of 4206 bytes/);
      assert.equal(rewrite({ name: './app/l', type: 'symlink', linkname: named(4096, '/') })?.linkname, named(4096, '/'));
      rejects({ name: './app/l', type: 'symlink', linkname: named(4097, '/') }, /droplet entry "\.\/app\/l" has a link target of 4097 bytes, over the limit of 4096/);
      rejects({ name: './app/h', type: 'link', linkname: named(5000) }, /has a link target of 5000 bytes/);
    });

    it('refuses an entry carrying more than 1 MiB of PAX records', () => {
      assert.equal(rewrite({ name: './app/x', pax: { comment: 'c'.repeat(1_000_000), path: './app/x' } })?.name, 'home/vcap/app/x');
      rejects({ name: './app/x', pax: { comment: 'c'.repeat(1024 * 1024) } }, /droplet entry "\.\/app\/x" has 1048583 bytes of PAX extended header records, over the limit of 1048576 \(1 MiB\)/);
    });

    it('keeps a megabyte-long name out of the reason', () => {
      assert.throws(() => rewrite({ name: named(1024 * 1024) }), (error: unknown) => error instanceof Error && error.message.length < 300);
    });

    it('refuses a droplet whose paths would take the remembered state past its 48 MiB budget', () => {
      // 4,000-byte names are within PATH_MAX; without a budget 500,000 of them (CONVERSION_MAX_ENTRIES) would be 2 GB.
      const state = createEntryRuleState();
      const filler = 'n'.repeat(4000);
      let accepted = 0;
      assert.throws(
        () => {
          for (; accepted < 20_000; accepted += 1) rewrite({ name: `./app/${accepted}-${filler}` }, state);
        },
        (error: unknown) => error instanceof InvalidDropletError && /^droplet has more paths than a conversion keeps track of \(over 48 MiB of names and bookkeeping\), reached at entry "\.\/app\/\d+-n+"… \(\d+ bytes\)$/.test(error.message),
      );
      assert.ok(accepted > 12_000, `${accepted} names accepted before the budget ran out`);
    });

    it('charges a path once however often the droplet repeats it', () => {
      const state = createEntryRuleState({ budgetBytes: 2_000 });
      for (let i = 0; i < 1000; i += 1) rewrite({ name: './app/same-file' }, state);
      assert.equal(rewrite({ name: `./app/${'n'.repeat(1500)}` }, state)?.type, 'file');
      rejects({ name: `./app/${'m'.repeat(1500)}` }, /has more paths than a conversion keeps track of \(over 2000 bytes of names/, state);
    });
  });
});

describe('rewriteArchiveEntry with the lifecycle rule', () => {
  it('re-roots under tmp/lifecycle/ and makes root the owner', () => {
    const rewritten = rewriteArchiveEntry(header({ name: './launcher', mode: 0o755, uid: 1000, gid: 1000 }), createEntryRuleState(), LIFECYCLE_RULE);
    assert.equal(rewritten?.name, 'tmp/lifecycle/launcher');
    assert.deepEqual([rewritten?.uid, rewritten?.gid, rewritten?.uname, rewritten?.gname], [0, 0, 'root', 'root']);
  });

  it('names the lifecycle tarball in its errors', () => {
    assert.throws(
      () => rewriteArchiveEntry(header({ name: '../launcher' }), createEntryRuleState(), LIFECYCLE_RULE),
      /lifecycle tarball entry "\.\.\/launcher" escapes the lifecycle tarball/,
    );
  });
});
