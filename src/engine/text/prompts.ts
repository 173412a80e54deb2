// The released KE-FER prompt template (hangyu94/KE2NT), one prompt per class.
export const PROMPT_TEMPLATE = 'a photo of a person making {article} {name} facial expression.';

/** The released prompt; the article follows English usage ("an anger", per method.md). */
export function promptFor(name: string): string {
  const article = /^[aeiou]/i.test(name) ? 'an' : 'a';
  return PROMPT_TEMPLATE.replace('{article}', article).replace('{name}', name);
}
