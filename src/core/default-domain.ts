/** The DNS domain services answer under when `--domain` is not given (its own module: the proxy worker bundle imports it without the agent's config code). */
export const DEFAULT_DOMAIN = 'warren.internal';
