// Message formatting shared by the i18n module (pure, unit-tested): "{name}" placeholders and
// plural forms chosen by Intl.PluralRules ("key_one" / "key_other").
export type Catalog = Record<string, string>;
export type Params = Record<string, string | number>;

export function format(template: string, params?: Params): string {
  if (!params) return template;
  return template.replace(/\{(\w+)\}/g, (whole, name: string) =>
    name in params ? String(params[name]) : whole,
  );
}

export function lookup(cat: Catalog, fallback: Catalog, lang: string, key: string, params?: Params): string {
  let k = key;
  if (params && typeof params.count === "number") {
    const form = new Intl.PluralRules(lang).select(params.count);
    const pk = `${key}_${form}`;
    k = pk in cat || pk in fallback ? pk : `${key}_other`;
  }
  const template = cat[k] ?? fallback[k] ?? cat[key] ?? fallback[key] ?? key;
  return format(template, params);
}
