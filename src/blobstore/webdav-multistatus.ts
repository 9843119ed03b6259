/**
 * Reads the `207 Multi-Status` body of a PROPFIND (RFC 4918 §9.1) — what nginx's dav_ext module
 * answers on CF's blobstore — without an XML dependency: the registry needs each entry's path,
 * modification time and whether it is a collection, nothing else.
 */
export interface MultistatusEntry {
  /** The entry's path, percent-decoded (`/admin/droplet-registry/staging/<uuid>`). */
  readonly path: string;
  readonly lastModified: Date | null;
  readonly collection: boolean;
}

/** `<D:name …>…</D:name>` with any namespace prefix (or none). */
function element(name: string, flags = ''): RegExp {
  return new RegExp(`<(?:[\\w.-]+:)?${name}\\b[^>]*>([\\s\\S]*?)</(?:[\\w.-]+:)?${name}>`, flags);
}

const RESPONSE = element('response', 'g');
const HREF = element('href');
const LAST_MODIFIED = element('getlastmodified');
const COLLECTION = /<(?:[\w.-]+:)?collection\b/;

export function parseMultistatus(xml: string): MultistatusEntry[] {
  return [...xml.matchAll(RESPONSE)].flatMap(([, response = '']) => {
    const href = HREF.exec(response)?.[1];
    if (href === undefined) return [];
    const modified = LAST_MODIFIED.exec(response)?.[1];
    const time = modified === undefined ? Number.NaN : Date.parse(unescapeXml(modified).trim());
    return [
      {
        path: decodeURIComponent(new URL(unescapeXml(href).trim(), 'http://multistatus.invalid').pathname),
        lastModified: Number.isNaN(time) ? null : new Date(time),
        collection: COLLECTION.test(response),
      },
    ];
  });
}

const ENTITIES: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };

function unescapeXml(text: string): string {
  return text.replace(/&(#x[0-9a-fA-F]+|#\d+|\w+);/g, (entity, name: string) => {
    if (name.startsWith('#x')) return String.fromCodePoint(Number.parseInt(name.slice(2), 16));
    if (name.startsWith('#')) return String.fromCodePoint(Number(name.slice(1)));
    return ENTITIES[name] ?? entity;
  });
}
