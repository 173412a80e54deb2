// Per-element dynamic styles that a strict CSP allows. The webviews' style-src has no
// 'unsafe-inline', which blocks style="..." attributes, also ones set with setAttribute. lit's
// styleMap sets the attribute on its first render (lit/lit#4719), so it is blocked too; this
// directive always writes through the CSSOM (style.setProperty), which CSP does not govern.
import { noChange } from 'lit';
import { Directive, directive, PartType, type ElementPart, type PartInfo } from 'lit/directive.js';

/** CSS property name (dash-case, custom properties included) -> value; null/undefined removes it. */
export type CssProps = Record<string, string | null | undefined>;

class CssPropsDirective extends Directive {
  private readonly set = new Set<string>();

  constructor(info: PartInfo) {
    super(info);
    if (info.type !== PartType.ELEMENT) throw new Error('cssProps is an element binding: <div ${cssProps({...})}>');
  }

  render(_props: CssProps): unknown {
    return noChange;
  }

  override update(part: ElementPart, [props]: [CssProps]): unknown {
    const style = (part.element as HTMLElement).style;
    for (const name of this.set) {
      if (props[name] == null) {
        style.removeProperty(name);
        this.set.delete(name);
      }
    }
    for (const [name, value] of Object.entries(props)) {
      if (value == null) continue;
      style.setProperty(name, value);
      this.set.add(name);
    }
    return noChange;
  }
}

/** Usage: html`<div ${cssProps({ left: `${x}px` })}>`. */
export const cssProps = directive(CssPropsDirective);
