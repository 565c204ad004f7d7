import type { FilterPos } from './filter-ast.js';
import { FilterSyntaxError } from './filter-syntax-error.js';

export type Punct = '(' | ')' | '[' | ']' | ',' | '.' | ';' | '=' | '!=' | '<>' | '<' | '<=' | '>' | '>=' | '+' | '-' | '*' | '/' | '%';

interface TokenSpan {
  readonly pos: FilterPos;
  /** Just past the token; errors about a missing continuation point here. */
  readonly end: FilterPos;
  /** The token as written. */
  readonly text: string;
}

/**
 * `word` is a bare identifier or keyword (the parser decides which, by context); right after a
 * `.` a word may also start with a digit, because map keys such as `gen_ai.prompt.0.content`
 * are written as dotted paths. `quoted` is a `"double"` or `` `backtick` `` identifier.
 */
export type Token = TokenSpan &
  (
    | { readonly kind: 'word'; readonly value: string }
    | { readonly kind: 'quoted'; readonly value: string }
    | { readonly kind: 'string'; readonly value: string }
    | { readonly kind: 'number'; readonly value: number; readonly integer: boolean }
    | { readonly kind: 'punct'; readonly value: Punct }
    | { readonly kind: 'end' }
  );

const STRING_ESCAPES_HINT = "supported escapes are \\\\ \\' \\n \\t \\r \\0 \\% \\_, and '' is a quote";

const KEYWORDS = new Set(['AND', 'OR', 'NOT', 'IS', 'NULL', 'IN', 'LIKE', 'ILIKE', 'BETWEEN', 'TRUE', 'FALSE']);
const MAX_SHOWN_TOKEN = 30;
const CONTROL_ESCAPES: Record<string, string> = { '\n': '\\n', '\r': '\\r', '\t': '\\t' };

/** The keyword a word spells, in capitals; keywords are reserved except as path keys, where the parser reads the word itself. */
export function keywordOf(token: Token): string | undefined {
  if (token.kind !== 'word') return undefined;
  const upper = token.value.toUpperCase();
  return KEYWORDS.has(upper) ? upper : undefined;
}

export function isPunct<P extends Punct>(token: Token, value: P): token is Token & { kind: 'punct'; value: P } {
  return token.kind === 'punct' && token.value === value;
}

/** Source text fit for a one-line message: cut short, and line breaks and other control characters escaped. */
export function shorten(text: string): string {
  const chars = Array.from(text);
  const shown = chars.slice(0, MAX_SHOWN_TOKEN).map((ch) => {
    const code = ch.codePointAt(0)!;
    if (code >= 32 && code !== 127 && code !== 0x2028 && code !== 0x2029) return ch;
    return CONTROL_ESCAPES[ch] ?? `\\u{${code.toString(16)}}`;
  });
  return chars.length <= MAX_SHOWN_TOKEN ? shown.join('') : `${shown.join('')}…`;
}

/** A token as error messages name it: keywords in capitals, everything else as written. */
export function describe(token: Token): string {
  if (token.kind === 'end') return 'end of filter';
  if (token.kind === 'string') return `string ${shorten(token.text)}`;
  if (token.kind === 'quoted') return shorten(token.text);
  return keywordOf(token) ?? `'${shorten(token.text)}'`;
}

const SINGLE_QUOTE = 39;
const DOUBLE_QUOTE = 34;
const BACKTICK = 96;
const BACKSLASH = 92;

function isDigit(code: number): boolean {
  return code >= 48 && code <= 57;
}

function isIdentStart(code: number): boolean {
  return (code >= 65 && code <= 90) || (code >= 97 && code <= 122) || code === 95;
}

function isIdentPart(code: number): boolean {
  return isIdentStart(code) || isDigit(code);
}

function isSpace(code: number): boolean {
  return code === 32 || code === 9 || code === 10 || code === 13;
}

/** How to show a character in an error message: as itself when visible, by code point when it may not be (or may look like ASCII). */
export function describeChar(ch: string): string {
  const code = ch.codePointAt(0) ?? 0;
  const hex = `U+${code.toString(16).toUpperCase().padStart(4, '0')}`;
  if (code > 32 && code < 127) return `'${ch}'`;
  return /^[\p{L}\p{N}\p{P}\p{S}]$/u.test(ch) ? `'${ch}' (${hex})` : hex;
}

/**
 * Produces tokens on demand, so that the first error in the text is the one reported even when
 * it is a lexical error further along than a syntax error would be found.
 */
export class FilterLexer {
  readonly #src: string;
  #offset = 0;
  #line = 1;
  #column = 1;
  #afterDot = false;

  constructor(source: string) {
    this.#src = source;
  }

  next(): Token {
    this.#skipSpace();
    const afterDot = this.#afterDot;
    this.#afterDot = false;
    const pos = this.#pos();
    if (this.#offset >= this.#src.length) return { kind: 'end', pos, end: pos, text: '' };
    const code = this.#code();
    if (isIdentStart(code) || (afterDot && isDigit(code))) {
      this.#skipWhile(isIdentPart);
      return { kind: 'word', value: this.#src.slice(pos.offset, this.#offset), ...this.#span(pos) };
    }
    if (isDigit(code)) return this.#number(pos);
    if (code === SINGLE_QUOTE) return this.#string(pos);
    if (code === DOUBLE_QUOTE || code === BACKTICK) return this.#quoted(pos, code);
    const punct = this.#punct(pos);
    this.#afterDot = punct.value === '.';
    return punct;
  }

  #number(pos: FilterPos): Token {
    this.#skipWhile(isDigit);
    let integer = true;
    if (this.#code() === 46 && isDigit(this.#code(1))) {
      integer = false;
      this.#bump();
      this.#skipWhile(isDigit);
    }
    let malformed = false;
    if (this.#code() === 101 || this.#code() === 69) {
      integer = false;
      this.#bump();
      if (this.#code() === 43 || this.#code() === 45) this.#bump();
      malformed = !isDigit(this.#code());
      this.#skipWhile(isDigit);
    }
    if (malformed || isIdentPart(this.#code())) {
      this.#skipWhile(isIdentPart);
      this.#fail(`malformed number ${this.#src.slice(pos.offset, this.#offset)}`, pos);
    }
    const text = this.#src.slice(pos.offset, this.#offset);
    const value = Number(text);
    // JS evaluates the filter with doubles and ClickHouse with exact integers: above 2^53 they would disagree.
    if (integer && !Number.isSafeInteger(value)) {
      this.#fail(`integer ${text} is too large`, pos, `integers go up to ${Number.MAX_SAFE_INTEGER}`);
    }
    if (!Number.isFinite(value)) this.#fail(`number ${text} is out of range`, pos);
    return { kind: 'number', value, integer, ...this.#span(pos) };
  }

  #string(pos: FilterPos): Token {
    this.#bump();
    let value = '';
    for (;;) {
      if (this.#offset >= this.#src.length) this.#fail('unterminated string starting', pos);
      const code = this.#code();
      if (code === SINGLE_QUOTE) {
        this.#bump();
        if (this.#code() !== SINGLE_QUOTE) break;
        value += "'";
        this.#bump();
      } else if (code === BACKSLASH) {
        value += this.#escape(pos);
      } else {
        const start = this.#offset;
        this.#bump();
        value += this.#src.slice(start, this.#offset);
      }
    }
    return { kind: 'string', value, ...this.#span(pos) };
  }

  #escape(stringPos: FilterPos): string {
    const at = this.#pos();
    this.#bump();
    if (this.#offset >= this.#src.length) this.#fail('unterminated string starting', stringPos);
    const ch = String.fromCodePoint(this.#src.codePointAt(this.#offset)!);
    this.#bump();
    switch (ch) {
      case '\\':
        return '\\';
      case "'":
        return "'";
      case 'n':
        return '\n';
      case 't':
        return '\t';
      case 'r':
        return '\r';
      case '0':
        return '\0';
      // The backslash stays so that the LIKE compilers still see an escaped wildcard.
      case '%':
        return '\\%';
      case '_':
        return '\\_';
      default: {
        const shown = describeChar(ch).startsWith("'") ? ch : ` followed by ${describeChar(ch)}`;
        return this.#fail(`unknown escape \\${shown} in string`, at, STRING_ESCAPES_HINT);
      }
    }
  }

  #quoted(pos: FilterPos, quote: number): Token {
    this.#bump();
    let value = '';
    for (;;) {
      if (this.#offset >= this.#src.length) this.#fail('unterminated quoted identifier starting', pos);
      const start = this.#offset;
      if (this.#code() === quote) {
        this.#bump();
        if (this.#code() !== quote) break;
        this.#bump();
        value += String.fromCharCode(quote);
      } else {
        this.#bump();
        value += this.#src.slice(start, this.#offset);
      }
    }
    return { kind: 'quoted', value, ...this.#span(pos) };
  }

  #punct(pos: FilterPos): Token & { kind: 'punct' } {
    const ch = this.#src[this.#offset]!;
    const next = this.#src[this.#offset + 1];
    const two = next === undefined ? ch : ch + next;
    if (two === '--' || two === '/*') {
      this.#fail(`comments are not supported (found ${two})`, pos, 'a filter is a single expression');
    }
    if (two === '==') this.#fail("unexpected token '=='", pos, 'use = to compare');
    if (two === '&&') this.#fail("unexpected token '&&'", pos, 'use AND');
    if (two === '||') this.#fail("unexpected token '||'", pos, 'use OR');
    if (two === '!=' || two === '<>' || two === '<=' || two === '>=') {
      this.#bump();
      this.#bump();
      return { kind: 'punct', value: two, ...this.#span(pos) };
    }
    switch (ch) {
      case '(':
      case ')':
      case '[':
      case ']':
      case ',':
      case '.':
      case ';':
      case '=':
      case '<':
      case '>':
      case '+':
      case '-':
      case '*':
      case '/':
      case '%':
        this.#bump();
        return { kind: 'punct', value: ch, ...this.#span(pos) };
      case '!':
        return this.#fail("unexpected character '!'", pos, 'use NOT, or != to compare');
      default:
        return this.#fail(`unexpected character ${describeChar(String.fromCodePoint(this.#src.codePointAt(this.#offset)!))}`, pos);
    }
  }

  #span(pos: FilterPos): TokenSpan {
    return { pos, end: this.#pos(), text: this.#src.slice(pos.offset, this.#offset) };
  }

  #pos(): FilterPos {
    return { offset: this.#offset, line: this.#line, column: this.#column };
  }

  #code(ahead = 0): number {
    return this.#src.charCodeAt(this.#offset + ahead);
  }

  #skipSpace(): void {
    while (isSpace(this.#code())) this.#bump();
  }

  #skipWhile(test: (code: number) => boolean): void {
    while (test(this.#code())) this.#bump();
  }

  /** Moves one character on: CRLF is one line break, a surrogate pair one column. */
  #bump(): void {
    const code = this.#code();
    if (code === 10 || code === 13) {
      this.#offset += code === 13 && this.#code(1) === 10 ? 2 : 1;
      this.#line++;
      this.#column = 1;
      return;
    }
    const pair = code >= 0xd800 && code <= 0xdbff && this.#code(1) >= 0xdc00 && this.#code(1) <= 0xdfff;
    this.#offset += pair ? 2 : 1;
    this.#column++;
  }

  #fail(summary: string, pos: FilterPos, hint = ''): never {
    throw new FilterSyntaxError(summary, pos, this.#src, hint);
  }
}
