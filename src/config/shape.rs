//! The shape of a KDL node, checked before its values are read: how many
//! arguments, which properties, whether a `{ … }` block, no type
//! annotations; and `Checker`, which reports the problems of one file
//! while its nodes are read (values refused at their exact span, keys given
//! twice).

use kdl::{KdlEntry, KdlNode};
use miette::SourceSpan;

use super::diagnostic::{Location, Problem, SourceFile};
use super::values::{self, ValueError, ValueResult};

/// What a node must look like: its positional argument count, the
/// properties it accepts, whether it has a `{ … }` block.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Shape<'s> {
    pub(crate) what: &'s str,
    pub(crate) usage: &'s str,
    pub(crate) min: usize,
    pub(crate) max: usize,
    pub(crate) properties: &'s [&'s str],
    pub(crate) block: BlockRule,
}

impl<'s> Shape<'s> {
    /// A node with `min..=max` positional values, no property, no block.
    pub(crate) fn values(what: &'s str, usage: &'s str, min: usize, max: usize) -> Self {
        Shape {
            what,
            usage,
            min,
            max,
            properties: &[],
            block: BlockRule::Forbidden,
        }
    }
}

/// Whether a node has a `{ … }` block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BlockRule {
    Forbidden,
    Required,
    /// Allowed and not reported when absent (the caller decides).
    Optional,
}

/// Reports problems of one file while its nodes are read.
pub(crate) struct Checker<'a> {
    pub(crate) file: &'a SourceFile,
    pub(crate) problems: &'a mut Vec<Problem>,
}

/// The span of an entry's value alone (without `key=` for a property).
pub(crate) fn value_span(entry: &KdlEntry) -> SourceSpan {
    let span = entry.span();
    let Some(format) = entry.format() else {
        return span;
    };
    let value_len = format.value_repr.len();
    if entry.name().is_some() && value_len > 0 && value_len <= span.len() {
        SourceSpan::new((span.offset() + span.len() - value_len).into(), value_len)
    } else {
        span
    }
}

/// How the value was written in the source (`0o027`, `"10s"`).
pub(crate) fn value_text(entry: &KdlEntry) -> &str {
    entry
        .format()
        .map_or("", |format| format.value_repr.as_str())
}

impl Checker<'_> {
    pub(crate) fn at(&self, span: SourceSpan) -> Location {
        Location::new(self.file, span)
    }

    pub(crate) fn push(&mut self, problem: Problem) {
        self.problems.push(problem);
    }

    /// Report a refused value at the value's span.
    pub(crate) fn value_problem(&mut self, entry: &KdlEntry, error: ValueError) {
        let at = self.at(value_span(entry));
        self.push(
            Problem::error(error.message)
                .label(&at, error.label)
                .maybe_help(error.help),
        );
    }

    /// Convert an entry's value, reporting a problem when it is refused.
    pub(crate) fn value<T>(
        &mut self,
        entry: &KdlEntry,
        convert: impl FnOnce(&KdlEntry) -> ValueResult<T>,
    ) -> Option<T> {
        match convert(entry) {
            Ok(value) => Some(value),
            Err(error) => {
                self.value_problem(entry, error);
                None
            }
        }
    }

    /// Convert an entry's value into `target`, which keeps its value when
    /// the entry is refused (and reported).
    pub(crate) fn set<T>(
        &mut self,
        entry: &KdlEntry,
        convert: impl FnOnce(&KdlEntry) -> ValueResult<T>,
        target: &mut T,
    ) {
        if let Some(value) = self.value(entry, convert) {
            *target = value;
        }
    }

    /// Check `node` against `shape`, reporting everything wrong with it;
    /// the positional arguments when their count fits (and, for a block
    /// node, the block is there).
    pub(crate) fn read<'n>(
        &mut self,
        node: &'n KdlNode,
        shape: Shape<'_>,
    ) -> Option<Vec<&'n KdlEntry>> {
        self.annotations(node);
        let name_at = self.at(node.name().span());
        let mut arguments = Vec::new();
        let mut seen_properties: Vec<(&str, SourceSpan)> = Vec::new();
        for entry in node.entries() {
            let Some(property) = entry.name() else {
                arguments.push(entry);
                continue;
            };
            let property_name = property.value();
            let property_at = self.at(entry.span());
            if !shape.properties.contains(&property_name) {
                let help = match values::suggest(property_name, shape.properties.iter().copied()) {
                    Some(close) => format!("did you mean `{close}=`?"),
                    None if shape.properties.is_empty() => {
                        format!("`{}` takes no properties: {}", shape.what, shape.usage)
                    }
                    None => format!(
                        "`{}` accepts {}",
                        shape.what,
                        shape
                            .properties
                            .iter()
                            .map(|p| format!("`{p}=`"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                };
                self.push(
                    Problem::error(format!(
                        "unexpected property `{property_name}=` on `{}`",
                        shape.what
                    ))
                    .label(&property_at, "unexpected property")
                    .help(help),
                );
            } else if let Some((_, first)) = seen_properties
                .iter()
                .find(|(name, _)| *name == property_name)
            {
                let first_at = self.at(*first);
                self.push(
                    Problem::error(format!("property `{property_name}=` is given twice"))
                        .label(&property_at, "given again here")
                        .label(&first_at, "first given here"),
                );
            } else {
                seen_properties.push((property_name, entry.span()));
            }
        }

        let mut block_ok = true;
        match (node.children(), shape.block) {
            (Some(children), BlockRule::Forbidden) => {
                let at = self.at(children.span());
                self.push(
                    Problem::error(format!("`{}` takes no block", shape.what))
                        .label(&at, "unexpected block")
                        .label(&name_at, "for this key")
                        .help(format!("write it as: {}", shape.usage)),
                );
            }
            (None, BlockRule::Required) => {
                block_ok = false;
                self.push(
                    Problem::error(format!("`{}` needs a block", shape.what))
                        .label(&name_at, "no { … } block")
                        .help(format!("write it as: {}", shape.usage)),
                );
            }
            _ => {}
        }

        if arguments.len() < shape.min {
            let message = match shape.min {
                1 if shape.max == 1 => format!("`{}` needs a value", shape.what),
                1 => format!("`{}` needs at least one value", shape.what),
                n => format!("`{}` needs at least {n} values", shape.what),
            };
            self.push(
                Problem::error(message)
                    .label(&name_at, "missing value")
                    .help(format!("write it as: {}", shape.usage)),
            );
            return None;
        }
        if arguments.len() > shape.max {
            let message = match shape.max {
                0 => format!("`{}` takes no values", shape.what),
                1 => format!(
                    "`{}` takes one value, found {}",
                    shape.what,
                    arguments.len()
                ),
                n => format!(
                    "`{}` takes at most {n} values, found {}",
                    shape.what,
                    arguments.len()
                ),
            };
            let mut problem = Problem::error(message);
            for extra in &arguments[shape.max..] {
                problem = problem.label(&self.at(extra.span()), "unexpected value");
            }
            self.push(problem.help(format!("write it as: {}", shape.usage)));
            return None;
        }
        block_ok.then_some(arguments)
    }

    /// Type annotations like `(u8)5` mean nothing to svinit: report them
    /// rather than silently ignore them.
    pub(crate) fn annotations(&mut self, node: &KdlNode) {
        let annotated = node
            .ty()
            .into_iter()
            .chain(node.entries().iter().filter_map(|entry| entry.ty()));
        let spans: Vec<(String, SourceSpan)> = annotated
            .map(|ty| (ty.value().to_owned(), ty.span()))
            .collect();
        for (ty, span) in spans {
            let at = self.at(span);
            self.push(
                Problem::error(format!("type annotation `({ty})` is not supported"))
                    .label(&at, "unsupported annotation")
                    .help("remove the annotation: svinit infers each value's type from its key"),
            );
        }
    }

    /// Report a key given twice where it may appear once.
    pub(crate) fn duplicate(&mut self, what: &str, again: SourceSpan, first: &Location) {
        let again = self.at(again);
        self.push(
            Problem::error(format!("`{what}` is given twice"))
                .label(&again, "given again here")
                .label(first, "first given here")
                .help(format!("`{what}` may appear only once; remove one of them")),
        );
    }
}
