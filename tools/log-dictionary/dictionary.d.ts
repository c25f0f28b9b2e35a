// Types of dictionary.js for the TypeScript that imports it (tests).
export declare const LEVELS: readonly string[];
export declare function messageId(format: string): number;
export declare function placeholders(format: string): number;
export declare function toJson(sorted: Array<[number, { format: string; args: number; levels: string[]; at: string[] }]>): string;
export declare function toC(sorted: Array<[number, { format: string; args: number; levels: string[]; at: string[] }]>): string;
