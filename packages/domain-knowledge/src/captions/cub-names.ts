/**
 * CUB class-folder spellings. Reed et al.'s caption release and NIWT's `.t7` files spell 17 CUB-200-2011
 * classes differently (possessives, one renamed class; NIWT `mod2alpha.py` `CUB_FNAME_FIX`), and
 * users' folders may drop the `NNN.` prefix, so folders are matched by a canonical key that ignores
 * both differences.
 */

/** CUB_200_2011 name → caption-data name (without the `NNN.` prefix). */
export const CUB_TO_REED: Readonly<Record<string, string>> = {
  Brewer_Blackbird: 'Brewers_Blackbird',
  Chuck_will_Widow: 'Chuck_wills_Widow',
  Brandt_Cormorant: 'Brandts_Cormorant',
  Heermann_Gull: 'Heermanns_Gull',
  Anna_Hummingbird: 'Annas_Hummingbird',
  Clark_Nutcracker: 'Clarks_Nutcracker',
  Scott_Oriole: 'Scotts_Oriole',
  Baird_Sparrow: 'Bairds_Sparrow',
  Brewer_Sparrow: 'Brewers_Sparrow',
  Harris_Sparrow: 'Harriss_Sparrow',
  Henslow_Sparrow: 'Henslows_Sparrow',
  Le_Conte_Sparrow: 'Le_Contes_Sparrow',
  Lincoln_Sparrow: 'Lincolns_Sparrow',
  Nelson_Sharp_tailed_Sparrow: 'Nelsons_Sparrow',
  Swainson_Warbler: 'Swainsons_Warbler',
  Wilson_Warbler: 'Wilsons_Warbler',
  Bewick_Wren: 'Bewicks_Wren',
};

const REED_TO_CUB: Readonly<Record<string, string>> = Object.fromEntries(
  Object.entries(CUB_TO_REED).map(([c, r]) => [r, c]),
);

/** Splits `"009.Brewer_Blackbird"` into `{ prefix: "009.", name: "Brewer_Blackbird" }`. */
export function splitCubPrefix(folder: string): { prefix: string; name: string } {
  const m = /^(\d+\.)(.*)$/.exec(folder);
  return m ? { prefix: m[1], name: m[2] } : { prefix: '', name: folder };
}

/** The folder in the other spelling (CUB ↔ Reed), keeping its prefix; undefined for the other 183 classes. */
export function alternateCubSpelling(folder: string): string | undefined {
  const { prefix, name } = splitCubPrefix(folder);
  const alt = CUB_TO_REED[name] ?? REED_TO_CUB[name];
  return alt === undefined ? undefined : prefix + alt;
}

/**
 * Canonical key of a class folder: no `NNN.` prefix, CUB_200_2011 spelling, spaces as `_`, lowercase.
 * `"009.Brewers_Blackbird"`, `"009.Brewer_Blackbird"` and `"Brewer Blackbird"` share one key.
 */
export function canonicalClassKey(folder: string): string {
  const name = splitCubPrefix(folder.trim()).name.replace(/\s+/g, '_');
  return (REED_TO_CUB[name] ?? name).toLowerCase();
}
