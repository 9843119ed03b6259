import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Header } from 'tar-stream';
import {
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
