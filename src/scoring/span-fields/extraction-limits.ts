/**
 * What one span's attributes can make of a scorer argument, at most. A span may carry any
 * number of attributes (a million keys has been seen); the scorer arguments built from them
 * are bounded so that building them costs bounded memory, and a judge or a scorer gets a
 * usable value instead of a copy of the flood. Below these, nothing is cut.
 */

/** Elements of a list read from indexed attributes (`gen_ai.prompt.N.*`): the lowest indices are kept. */
export const MAX_INDEXED_ELEMENTS = 1_000;
/** Attributes read into one indexed list, all elements together: the lowest indices' first. */
export const MAX_INDEXED_FIELDS = 10_000;
/** Prefixed metadata attributes (`metadata.*`) read, the first ones in attribute order. */
export const MAX_METADATA_KEYS = 10_000;
