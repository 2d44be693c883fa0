export declare const USER_FIELDS: string[]
export declare function strip(dir: string): void
export declare function restore(dir: string): void
