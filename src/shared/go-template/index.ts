// A Go text/template engine: parse and execute with Go's semantics, a caller's function map on top of Go's builtins.
export { GoTemplateError } from './go-template-error.js';
export { GoTemplateSet, GoUnknown, GoUnknownValueError, renderGoTemplate, type GoTemplateOptions, type MissingKeyOption } from './go-template.js';
export { GO_BUILTINS, goEq, goLt, isTrue, withArity, type GoFunction } from './go-builtins.js';
export { formatValue, goQuote, goTypeName, sprint, sprintf, sprintln } from './go-fmt.js';
export { parseGoTemplate, positionOf, type ArgNode, type CommandNode, type ParsedTemplates, type PipeNode, type TemplateNode } from './parse-go-template.js';
