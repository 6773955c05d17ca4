/**
 * The three means of the captions encoder: caption = mean of its in-vocabulary word vectors, image =
 * mean of its captions that have such words, class = mean of its images that have such captions.
 * Means of means (not one pooled mean) so that long captions and captioned-many images do not dominate.
 */

/** An image's captions as token ids into a shared vocabulary. */
export interface TokenizedImage {
  readonly classIndex: number;
  readonly file: string;
  readonly captions: readonly Int32Array[];
}

export interface ClassCounts {
  images: number;
  /** Images contributing to the class mean (at least one caption with an in-vocabulary word). */
  imagesUsed: number;
  captions: number;
  captionsUsed: number;
  tokens: number;
  oovTokens: number;
}

export interface AverageResult {
  /** `[numClasses × dim]`, row-major; rows of classes without any in-vocabulary word are zero. */
  readonly data: Float32Array;
  readonly perClass: readonly ClassCounts[];
  readonly tokens: number;
  readonly oovTokens: number;
  readonly types: number;
  readonly oovTypes: number;
}

export function averageCaptions(
  numClasses: number,
  images: readonly TokenizedImage[],
  /** Vector per vocabulary id, undefined when out of vocabulary. */
  vectorOf: readonly (Float32Array | undefined)[],
  dim: number,
): AverageResult {
  const perClass: ClassCounts[] = Array.from({ length: numClasses }, () => ({
    images: 0,
    imagesUsed: 0,
    captions: 0,
    captionsUsed: 0,
    tokens: 0,
    oovTokens: 0,
  }));
  const classSum = new Float64Array(numClasses * dim);
  const imageSum = new Float64Array(dim);
  const captionSum = new Float64Array(dim);
  const seenTypes = new Uint8Array(vectorOf.length);
  let tokens = 0;
  let oovTokens = 0;
  for (const img of images) {
    const cc = perClass[img.classIndex];
    cc.images++;
    imageSum.fill(0);
    let usedCaptions = 0;
    for (const cap of img.captions) {
      cc.captions++;
      captionSum.fill(0);
      let inVocab = 0;
      for (const id of cap) {
        seenTypes[id] = 1;
        const v = vectorOf[id];
        if (!v) continue;
        for (let d = 0; d < dim; d++) captionSum[d] += v[d];
        inVocab++;
      }
      tokens += cap.length;
      oovTokens += cap.length - inVocab;
      cc.tokens += cap.length;
      cc.oovTokens += cap.length - inVocab;
      if (inVocab === 0) continue;
      for (let d = 0; d < dim; d++) imageSum[d] += captionSum[d] / inVocab;
      usedCaptions++;
    }
    cc.captionsUsed += usedCaptions;
    if (usedCaptions === 0) continue;
    const off = img.classIndex * dim;
    for (let d = 0; d < dim; d++) classSum[off + d] += imageSum[d] / usedCaptions;
    cc.imagesUsed++;
  }
  const data = new Float32Array(numClasses * dim);
  for (let c = 0; c < numClasses; c++) {
    const n = perClass[c].imagesUsed;
    if (n === 0) continue;
    for (let d = 0; d < dim; d++) data[c * dim + d] = classSum[c * dim + d] / n;
  }
  let types = 0;
  let oovTypes = 0;
  for (let id = 0; id < seenTypes.length; id++) {
    if (!seenTypes[id]) continue;
    types++;
    if (!vectorOf[id]) oovTypes++;
  }
  return { data, perClass, tokens, oovTokens, types, oovTypes };
}
