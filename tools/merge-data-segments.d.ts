// Types of merge-data-segments.js for the TypeScript that imports it (tests).
export declare function mergeDataSegments(bytes: Uint8Array, maxGap?: number): { bytes: Uint8Array<ArrayBuffer>; before: number; after: number };
