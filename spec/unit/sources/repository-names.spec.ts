import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { RegistryError } from '../../../src/errors/registry-error.ts';
import { matchRepositoryComponent, pickRepositoryComponent, toRepositoryComponent } from '../../../src/sources/repository-names.ts';

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

describe('matchRepositoryComponent', () => {
  it('finds the one name that is the component or has it as its form, and calls several ambiguous, the exact one included', () => {
    const names = ['Hello', 'other', 'My App', 'my-app', 'Big Cat', 'big_cat', 'BIG-CAT', 'big  cat', 'web'];
    const match = (component: string) => matchRepositoryComponent(names, (n) => n, component);
    assert.deepEqual(match('hello'), { found: 'Hello' });
    assert.deepEqual(match('web'), { found: 'web' });
    assert.deepEqual(match('my-app'), { ambiguous: ['My App', 'my-app'] }, 'an exact name must not take My App over');
    assert.deepEqual(match('big-cat'), { ambiguous: ['Big Cat', 'BIG-CAT', 'big  cat'] });
    assert.deepEqual(match('big_cat'), { found: 'big_cat' });
    assert.deepEqual(match('missing'), { none: true });
  });

  it('answers NAME_UNKNOWN for none, and for several naming them', () => {
    const refused = (component: string, pattern: RegExp) =>
      assert.throws(
        () => pickRepositoryComponent(['Acme Corp', 'acme-corp'], (n) => n, component, 'org', `${component}/dev/web`),
        (error: unknown) => error instanceof RegistryError && error.code === 'NAME_UNKNOWN' && pattern.test(error.message),
      );
    refused('acme-corp', /the orgs "Acme Corp", "acme-corp" all map to "acme-corp"/);
    refused('nope', /^repository nope\/dev\/web not found$/);
  });
});
