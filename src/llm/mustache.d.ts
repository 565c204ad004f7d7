/**
 * The slice of mustache 4.2 that prompt-template.ts uses. @types/mustache is not installed and
 * the registry is out of reach, so the types live here; they follow mustache.mjs, not the
 * DefinitelyTyped package.
 */
declare module 'mustache' {
  /**
   * [type, value, start, end, children?, ...]. type is one of `text`, `name` ({{x}}), `&`
   * ({{{x}}} / {{&x}}), `#`, `^` (sections, children at index 4), `>` (partial), `!`, `=`.
   */
  export type TemplateToken = [string, string, number, number, ...unknown[]];

  export interface RenderConfig {
    tags?: [string, string];
    escape?: (value: unknown) => string;
  }

  export class Context {
    constructor(view: unknown, parentContext?: Context);
    view: unknown;
    lookup(name: string): unknown;
  }

  export class Writer {
    constructor();
    clearCache(): void;
    /** Throws an Error naming the problem and its position on malformed templates. */
    parse(template: string, tags?: [string, string]): TemplateToken[];
    render(template: string, view: unknown, partials?: Record<string, string>, config?: RenderConfig): string;
    escapedValue(token: TemplateToken, context: Context, config?: RenderConfig): string | undefined;
    unescapedValue(token: TemplateToken, context: Context): string | undefined;
  }

  interface MustacheStatic {
    readonly version: string;
    escape: (value: string) => string;
    parse(template: string, tags?: [string, string]): TemplateToken[];
    render(template: string, view: unknown, partials?: Record<string, string>, config?: RenderConfig): string;
    Writer: typeof Writer;
    Context: typeof Context;
  }

  const mustache: MustacheStatic;
  export default mustache;
}
