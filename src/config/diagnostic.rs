//! Diagnostics of the config loader: one [`Problem`] per thing wrong, each
//! carrying its own named source so its spans are shown in the right file,
//! and [`ConfigError`], the list of every problem of a config, printable as
//! a miette report (`--check`, a failed reload over the control socket).

use std::fmt;
use std::sync::Arc;

use miette::{
    Diagnostic, GraphicalReportHandler, GraphicalTheme, LabeledSpan, NamedSource, Severity,
    SourceCode, SourceSpan,
};

/// The text of one unit file, named by its path, shared by every problem in it.
pub type SourceFile = Arc<NamedSource<String>>;

pub(crate) fn source_file(name: &str, text: String) -> SourceFile {
    Arc::new(NamedSource::new(name, text).with_language("kdl"))
}

/// A span in a given file: where a value, key or name was written.
#[derive(Debug, Clone)]
pub(crate) struct Location {
    pub(crate) file: SourceFile,
    pub(crate) span: SourceSpan,
}

impl Location {
    pub(crate) fn new(file: &SourceFile, span: SourceSpan) -> Self {
        Location {
            file: file.clone(),
            span: clamp_span(span, file.inner().len()),
        }
    }
}

/// Keep a span inside its source text (a defence against any span, ours or
/// the KDL parser's, that would reach past the end).
fn clamp_span(span: SourceSpan, source_len: usize) -> SourceSpan {
    let offset = span.offset().min(source_len);
    let len = span.len().min(source_len - offset);
    SourceSpan::new(offset.into(), len)
}

/// One thing wrong with a config: a message, labelled spans in one file,
/// an optional hint, and nested problems for labels in other files.
#[derive(Debug, Clone)]
pub struct Problem {
    severity: Severity,
    message: String,
    source: Option<SourceFile>,
    labels: Vec<LabeledSpan>,
    help: Option<String>,
    related: Vec<Problem>,
}

impl Problem {
    /// An error with no location yet (e.g. a file that cannot be read).
    pub(crate) fn error(message: impl Into<String>) -> Self {
        Problem {
            severity: Severity::Error,
            message: message.into(),
            source: None,
            labels: Vec::new(),
            help: None,
            related: Vec::new(),
        }
    }

    /// A warning: something svinit would meet at start-up, not an error
    /// of the config (`--check` prints it and still exits 0).
    pub(crate) fn warning(message: impl Into<String>) -> Self {
        Problem {
            severity: Severity::Warning,
            ..Problem::error(message)
        }
    }

    /// Add a labelled span. The first file labelled becomes this problem's
    /// source; a label in another file goes into a nested problem for that
    /// file, so miette shows each span in its own file.
    pub(crate) fn label(mut self, at: &Location, text: impl Into<String>) -> Self {
        self.add_label(at, text.into());
        self
    }

    fn add_label(&mut self, at: &Location, text: String) {
        match &self.source {
            None => self.source = Some(at.file.clone()),
            Some(file) if Arc::ptr_eq(file, &at.file) => {}
            Some(_) => {
                let existing = self
                    .related
                    .iter_mut()
                    .find(|p| p.source.as_ref().is_some_and(|f| Arc::ptr_eq(f, &at.file)));
                match existing {
                    Some(problem) => problem.add_label(at, text),
                    None => {
                        let mut continued = Problem {
                            severity: Severity::Advice,
                            message: format!("{} (continued in {})", self.message, at.file.name()),
                            source: None,
                            labels: Vec::new(),
                            help: None,
                            related: Vec::new(),
                        };
                        continued.add_label(at, text);
                        self.related.push(continued);
                    }
                }
                return;
            }
        }
        let primary = self.labels.is_empty();
        let span = clamp_span(at.span, at.file.inner().len());
        self.labels.push(if primary {
            LabeledSpan::new_primary_with_span(Some(text), span)
        } else {
            LabeledSpan::new_with_span(Some(text), span)
        });
    }

    pub(crate) fn help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    pub(crate) fn maybe_help(mut self, help: Option<String>) -> Self {
        self.help = help;
        self
    }

    /// A diagnostic of the KDL parser, kept as the parser worded it,
    /// attached to the named file.
    pub(crate) fn from_kdl(file: &SourceFile, diagnostic: &kdl::KdlDiagnostic) -> Self {
        let message = diagnostic
            .message
            .clone()
            .unwrap_or_else(|| "invalid KDL".to_owned());
        let label = diagnostic
            .label
            .clone()
            .unwrap_or_else(|| "here".to_owned());
        let at = Location::new(file, diagnostic.span);
        let mut problem = Problem::error(message).label(&at, label);
        problem.severity = diagnostic.severity;
        problem.help = diagnostic.help.clone().or_else(|| kdl_v1_hint(file, &at));
        problem
    }

    pub(crate) fn message(&self) -> &str {
        &self.message
    }

    #[cfg(test)]
    pub(crate) fn severity(&self) -> Severity {
        self.severity
    }

    /// The file this problem points into, if any.
    pub(crate) fn file_name(&self) -> Option<&str> {
        self.source.as_ref().map(|file| file.name())
    }

    /// The labelled spans in this problem's own file.
    pub(crate) fn spans(&self) -> &[LabeledSpan] {
        &self.labels
    }

    /// Problems nested under this one (labels in other files).
    pub(crate) fn nested(&self) -> &[Problem] {
        &self.related
    }

    #[cfg(test)]
    /// Length of the text this problem's spans refer to.
    pub(crate) fn source_len(&self) -> Option<usize> {
        self.source.as_ref().map(|file| file.inner().len())
    }
}

/// A hint for the most common KDL v1 habit the v2 parser refuses without
/// a help of its own: bare `true`/`false`/`null`.
fn kdl_v1_hint(file: &SourceFile, at: &Location) -> Option<String> {
    let text = file
        .inner()
        .get(at.span.offset()..at.span.offset() + at.span.len())?;
    matches!(text, "true" | "false" | "null")
        .then(|| format!("KDL v2 writes this keyword with a `#`: #{text}"))
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Problem {}

impl Diagnostic for Problem {
    fn severity(&self) -> Option<Severity> {
        Some(self.severity)
    }

    fn help<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        self.help
            .as_ref()
            .map(|help| Box::new(help) as Box<dyn fmt::Display>)
    }

    fn source_code(&self) -> Option<&dyn SourceCode> {
        self.source.as_ref().map(|file| file as &dyn SourceCode)
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        if self.labels.is_empty() {
            None
        } else {
            Some(Box::new(self.labels.iter().cloned()))
        }
    }

    fn related<'a>(&'a self) -> Option<Box<dyn Iterator<Item = &'a dyn Diagnostic> + 'a>> {
        if self.related.is_empty() {
            None
        } else {
            Some(Box::new(self.related.iter().map(|p| p as &dyn Diagnostic)))
        }
    }
}

/// Everything wrong with a config, reported at once. Its `related()`
/// diagnostics are all the problems, in file order, then the problems
/// that involve several services (names, dependencies, cycles).
#[derive(Debug, Clone)]
pub struct ConfigError {
    problems: Vec<Problem>,
}

/// Width the reports are wrapped at.
const REPORT_WIDTH: usize = 100;

impl ConfigError {
    pub(crate) fn new(problems: Vec<Problem>) -> Self {
        ConfigError { problems }
    }

    pub fn problems(&self) -> &[Problem] {
        &self.problems
    }

    /// The report as text: miette's graphical format, `REPORT_WIDTH`
    /// columns, unicode, ANSI colors only when `color`. The summary line,
    /// then every problem as a report of its own.
    pub fn render(&self, color: bool) -> String {
        let handler = report_handler(color);
        let mut out = String::new();
        let summary = handler.render_report(&mut out, &WithoutRelated(self));
        if summary.is_err() {
            out = format!("  × {self}\n");
        }
        for problem in &self.problems {
            out.push('\n');
            render_problem(&handler, problem, &mut out);
        }
        out
    }
}

/// `problems` (warnings, say) rendered one after another, as
/// [`ConfigError::render`] renders its problems.
pub fn render_problems(problems: &[Problem], color: bool) -> String {
    let handler = report_handler(color);
    let mut out = String::new();
    for (index, problem) in problems.iter().enumerate() {
        if index > 0 {
            out.push('\n');
        }
        render_problem(&handler, problem, &mut out);
    }
    out
}

fn report_handler(color: bool) -> GraphicalReportHandler {
    let theme = if color {
        GraphicalTheme::unicode()
    } else {
        GraphicalTheme::unicode_nocolor()
    };
    GraphicalReportHandler::new_themed(theme)
        .with_width(REPORT_WIDTH)
        .with_links(false)
}

/// One problem, then its nested problems (its labels in other files), each
/// as a report of its own.
fn render_problem(handler: &GraphicalReportHandler, problem: &Problem, out: &mut String) {
    let mut text = String::new();
    if handler
        .render_report(&mut text, &WithoutRelated(problem))
        .is_err()
    {
        // Rendering only fails on a span that does not fit its source,
        // which `Location` rules out; keep the plain message anyway.
        text = format!("  × {}\n", problem.message());
    }
    out.push_str(&text);
    for nested in problem.nested() {
        out.push('\n');
        render_problem(handler, nested, out);
    }
}

/// A diagnostic shown without its related diagnostics. miette's handler
/// puts a line of its own (`Error: `, `Advice: `) before each related
/// one, which reads as an empty error, so they are rendered one by one.
struct WithoutRelated<'a, D: Diagnostic>(&'a D);

impl<D: Diagnostic> fmt::Debug for WithoutRelated<'_, D> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.0, f)
    }
}

impl<D: Diagnostic> fmt::Display for WithoutRelated<'_, D> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self.0, f)
    }
}

impl<D: Diagnostic> std::error::Error for WithoutRelated<'_, D> {}

impl<D: Diagnostic> Diagnostic for WithoutRelated<'_, D> {
    fn severity(&self) -> Option<Severity> {
        self.0.severity()
    }

    fn help<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        self.0.help()
    }

    fn source_code(&self) -> Option<&dyn SourceCode> {
        self.0.source_code()
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        self.0.labels()
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.problems.len() {
            1 => write!(f, "invalid configuration: 1 problem"),
            n => write!(f, "invalid configuration: {n} problems"),
        }
    }
}

impl std::error::Error for ConfigError {}

impl Diagnostic for ConfigError {
    fn related<'a>(&'a self) -> Option<Box<dyn Iterator<Item = &'a dyn Diagnostic> + 'a>> {
        Some(Box::new(self.problems.iter().map(|p| p as &dyn Diagnostic)))
    }
}
