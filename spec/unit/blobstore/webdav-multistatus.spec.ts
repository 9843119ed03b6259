import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseMultistatus } from '../../../src/blobstore/webdav-multistatus.ts';

/** What nginx's dav_ext module answers to `PROPFIND` with `Depth: 1` (Debian's nginx-extras 1.22). */
const NGINX_DAV_EXT = `<?xml version="1.0" encoding="utf-8" ?>
<D:multistatus xmlns:D="DAV:">
<D:response>
<D:href>/admin/dr/staging/</D:href>
<D:propstat>
<D:prop>
<D:displayname>staging</D:displayname>
<D:getlastmodified>Sat, 28 Nov 2026 05:56:55 GMT</D:getlastmodified>
<D:resourcetype><D:collection/></D:resourcetype>
<D:lockdiscovery/>
<D:supportedlock>
</D:supportedlock>
</D:prop>
<D:status>HTTP/1.1 200 OK</D:status>
</D:propstat>
</D:response>
<D:response>
<D:href>/admin/dr/staging/0b7e2a46-5f57-4d0e-9d6c-3f0c1d2e4a5b</D:href>
<D:propstat>
<D:prop>
<D:displayname>0b7e2a46-5f57-4d0e-9d6c-3f0c1d2e4a5b</D:displayname>
<D:getcontentlength>4338</D:getcontentlength>
<D:getlastmodified>Sat, 28 Nov 2026 05:40:01 GMT</D:getlastmodified>
<D:resourcetype></D:resourcetype>
<D:lockdiscovery/>
<D:supportedlock>
</D:supportedlock>
</D:prop>
<D:status>HTTP/1.1 200 OK</D:status>
</D:propstat>
</D:response>
</D:multistatus>
`;

describe('parseMultistatus', () => {
  it("reads nginx dav_ext's entries: path, modification time, collection or not", () => {
    assert.deepEqual(parseMultistatus(NGINX_DAV_EXT), [
      { path: '/admin/dr/staging/', lastModified: new Date('2026-11-28T05:56:55Z'), collection: true },
      { path: '/admin/dr/staging/0b7e2a46-5f57-4d0e-9d6c-3f0c1d2e4a5b', lastModified: new Date('2026-11-28T05:40:01Z'), collection: false },
    ]);
  });

  it('takes any namespace prefix, absolute and percent-encoded hrefs, and entries without a date', () => {
    const xml = `<multistatus xmlns="DAV:"><response><href>https://blobstore.example.com/admin/a%20b/c&amp;d</href>
      <propstat><prop><resourcetype/></prop></propstat></response>
      <lp1:response xmlns:lp1="DAV:"><lp1:href>/x/</lp1:href><lp1:propstat><lp1:prop><lp1:resourcetype><lp1:collection/></lp1:resourcetype>
      <lp1:getlastmodified>not a date</lp1:getlastmodified></lp1:prop></lp1:propstat><lp1:responsedescription>ok</lp1:responsedescription></lp1:response></multistatus>`;
    assert.deepEqual(parseMultistatus(xml), [
      { path: '/admin/a b/c&d', lastModified: null, collection: false },
      { path: '/x/', lastModified: null, collection: true },
    ]);
  });
});
