import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { pickByRepositoryComponent, toRepositoryComponent } from '../../../src/sources/repository-names.ts';

describe('toRepositoryComponent', () => {
  it('keeps names that already fit the grammar', () => {
    for (const name of ['hello', 'my-app', 'app.v1', 'x__y', 'a--b', 'a1']) assert.equal(toRepositoryComponent(name), name);
  });

  it('maps CF names the grammar forbids to their repository form', () => {
    assert.equal(toRepositoryComponent('My App (v2)'), 'my-app-v2');
    assert.equal(toRepositoryComponent('Café'), 'cafe');
    assert.equal(toRepositoryComponent('a..b'), 'a-b');
    assert.equal(toRepositoryComponent('x___y'), 'x-y');
    assert.equal(toRepositoryComponent('-lead.'), 'lead');
    assert.equal(toRepositoryComponent('Org_Name'), 'org_name');
  });

  it('has no form for names with nothing usable', () => {
    assert.equal(toRepositoryComponent('!!!'), null);
    assert.equal(toRepositoryComponent('日本'), null);
  });
});

describe('pickByRepositoryComponent', () => {
  it('prefers the exact name, then the one match, and refuses ambiguous forms', () => {
    const names = ['Hello', 'other', 'My App', 'my-app', 'Big Cat', 'big_cat', 'BIG-CAT', 'big  cat'];
    assert.equal(pickByRepositoryComponent(names, (n) => n, 'hello'), 'Hello');
    assert.equal(pickByRepositoryComponent(names, (n) => n, 'my-app'), 'my-app', 'exact name wins over My App');
    assert.equal(pickByRepositoryComponent(names, (n) => n, 'big-cat'), undefined, 'Big Cat, BIG-CAT and big  cat are ambiguous');
    assert.equal(pickByRepositoryComponent(names, (n) => n, 'big_cat'), 'big_cat');
    assert.equal(pickByRepositoryComponent(names, (n) => n, 'missing'), undefined);
  });
});
