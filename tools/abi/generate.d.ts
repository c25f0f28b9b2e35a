// Types of generate.js for the TypeScript that imports it (tests).
export interface AbiValue { name: string; value: number; doc: string }
export interface AbiGroup { name: string; ts: string; c: string; as?: string; doc: string; values: AbiValue[] }
export interface AbiTable { version: number; groups: AbiGroup[] }
export declare const ROOT: string;
export declare const TABLE: string;
export declare const OUTPUTS: { as: string; ts: string; c: string };
export declare function snake(name: string): string;
export declare function readTable(root?: string): AbiTable;
export declare function render(table: AbiTable): Record<string, string>;
export declare function stale(root?: string): string[];
export declare function generate(root?: string): string[];
