import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { secureLinkMd5, signedReadUrl } from '../../../src/blobstore/secure-link.ts';

const HEX = '0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef';

// Vectors derived with openssl, as nginx's secure_link_md5 computes them:
//   printf '%s' '<expires><uri> <secret>' | openssl md5 -binary | base64 | tr '+/' '-_' | tr -d '='
describe('secure_link signing', () => {
  it('hashes "<expires><uri> <secret>" as base64url MD5 without padding', () => {
    assert.equal(secureLinkMd5(`/read/droplet-registry/blobs/sha256/${HEX}`, 1700000000, 's3cr3t'), '6RQBNCvCy_AL7Dt4jP7lOQ');
    assert.equal(secureLinkMd5('/read/cc-droplets/ab/cd/abcdef/0123', 2147483647, 'secret with spaces'), 'tU4xAl49Br5wbqI0Y1xaww');
  });

  it('builds the /read/ URL on the public endpoint with md5 and expires', () => {
    assert.equal(
      signedReadUrl('https://blobstore.sys.example.com/', `/droplet-registry/blobs/sha256/${HEX}`, 1700000000, 's3cr3t'),
      `https://blobstore.sys.example.com/read/droplet-registry/blobs/sha256/${HEX}?md5=6RQBNCvCy_AL7Dt4jP7lOQ&expires=1700000000`,
    );
  });

  it('refuses paths whose URL form nginx would decode into something else', () => {
    for (const path of ['droplet-registry/x', '/a b', '/a/../b', '/a%2Fb', '/a//b']) {
      assert.throws(() => signedReadUrl('https://blobstore.example.com', path, 1, 's'), TypeError, path);
    }
  });
});
