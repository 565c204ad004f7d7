/**
 * The bookkeeping of one ClickHouse filter compilation: query parameters, lambda variables and
 * `let` bindings.
 *
 * The injection rule of the ClickHouse compiler: every value that comes from the filter or the
 * configuration (string and number literals, attribute keys, JSON path keys and indexes, the
 * field conventions' attribute names) becomes a query parameter (`{p0:String}`), so the SQL
 * text is made only of this compiler's fixed fragments, the names this class generates, and
 * numbers the compiler computes. `SqlContext` is the one place that writes a name into the
 * text, and it only writes names it made from the validated prefix and a counter.
 */

export type SqlParams = Record<string, string | number | boolean | readonly string[]>;

/** A valid ClickHouse identifier made of ASCII letters, digits and `_`, not starting with a digit. */
const PREFIX = /^[A-Za-z_][A-Za-z0-9_]{0,30}$/;

/**
 * Text that can be repeated in the SQL without re-evaluating anything costly: a column, a
 * lambda variable, a parameter, a number, NULL, or the placeholder of an enclosing `let` (which
 * counts its own uses after substitution, so repeating it here is accounted for there).
 */
const ATOMIC = /^(?:[A-Za-z_][A-Za-z0-9_]*|\{[A-Za-z0-9_]+:[A-Za-z0-9()]+\}|-?[0-9]+|NULL|\u0000[0-9]+\u0000)$/;

/**
 * Stands for a bound value while its consumer is being built. NUL never occurs in generated SQL
 * (user text never reaches the SQL text at all), so a placeholder cannot collide with real text.
 */
const PLACEHOLDER_MARK = '\u0000';

export class SqlContext {
  readonly params: SqlParams = {};
  readonly #prefix: string;
  readonly #stringParams = new Map<string, string>();
  readonly #floatParams = new Map<string, string>();
  readonly #intParams = new Map<number, string>();
  #nextParam = 0;
  #nextVariable = 0;
  #nextPlaceholder = 0;

  constructor(prefix = 'p') {
    if (!PREFIX.test(prefix)) {
      throw new Error(`paramPrefix must be 1 to 31 ASCII letters, digits or _ and not start with a digit, got ${JSON.stringify(prefix)}`);
    }
    this.#prefix = prefix;
  }

  /** A `String` parameter holding `value` (identical values share one parameter). */
  string(value: string): string {
    let name = this.#stringParams.get(value);
    if (name === undefined) {
      name = this.#newParam(value);
      this.#stringParams.set(value, name);
    }
    return `{${name}:String}`;
  }

  /** An `Array(String)` parameter (IN lists); never shared, each list is its own. */
  stringArray(values: readonly string[]): string {
    return `{${this.#newParam([...values])}:Array(String)}`;
  }

  /**
   * A `Float64` parameter. Sent as its shortest round-trip decimal text: ClickHouse parses it
   * to the same double (correctly rounded), and a JS number beyond 2^53 would be refused by
   * the embedded engine's parameter serializer.
   */
  float(value: number): string {
    if (!Number.isFinite(value)) throw new Error(`a Float64 parameter must be finite, got ${value}`);
    const text = Object.is(value, -0) ? '-0' : String(value);
    let name = this.#floatParams.get(text);
    if (name === undefined) {
      name = this.#newParam(text);
      this.#floatParams.set(text, name);
    }
    return `{${name}:Float64}`;
  }

  /** An `Int64` parameter (JSON array positions). */
  int(value: number): string {
    if (!Number.isSafeInteger(value)) throw new Error(`an Int64 parameter must be a safe integer, got ${value}`);
    let name = this.#intParams.get(value);
    if (name === undefined) {
      name = this.#newParam(String(value));
      this.#intParams.set(value, name);
    }
    return `{${name}:Int64}`;
  }

  /** A fresh lambda variable name, unique within this compilation (and across prefixes). */
  variable(): string {
    return `${this.#prefix}_v${this.#nextVariable++}`;
  }

  /**
   * `body` with `sql` in the place(s) of its argument. When the body uses the value more than
   * once and the value is not atomic, it is evaluated once and bound to a lambda variable
   * (`arrayMap(v -> body, [sql])[1]`, ClickHouse having no `let`), which also keeps the SQL
   * text linear in the filter's size however often operators reuse their operands.
   */
  let(sql: string, body: (ref: string) => string): string {
    const placeholder = `${PLACEHOLDER_MARK}${this.#nextPlaceholder++}${PLACEHOLDER_MARK}`;
    const pieces = body(placeholder).split(placeholder);
    if (pieces.length <= 2 || ATOMIC.test(sql)) return pieces.join(sql);
    const variable = this.variable();
    return `arrayElement(arrayMap(${variable} -> ${pieces.join(variable)}, [${sql}]), 1)`;
  }

  /** `let` over several values. */
  letAll(sqls: readonly string[], body: (refs: string[]) => string): string {
    const bind = (index: number, refs: string[]): string =>
      index === sqls.length ? body(refs) : this.let(sqls[index]!, (ref) => bind(index + 1, [...refs, ref]));
    return bind(0, []);
  }

  #newParam(value: string | string[]): string {
    const name = `${this.#prefix}${this.#nextParam++}`;
    this.params[name] = value;
    return name;
  }
}
