//! Source files and byte offset → line/column mapping.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use miette::{NamedSource, SourceSpan};

/// One configuration file as read from disk.
#[derive(Debug, Clone)]
pub struct SourceFile {
    /// Path as shown to the user (relative to the working directory when possible).
    pub path: PathBuf,
    /// File contents.
    pub text: Arc<String>,
}

impl SourceFile {
    /// A `miette` source for diagnostics pointing into this file.
    pub fn named(&self) -> NamedSource<Arc<String>> {
        NamedSource::new(self.path.display().to_string(), self.text.clone())
    }

    /// 1-based line and column of a byte offset.
    pub fn line_col(&self, offset: usize) -> (usize, usize) {
        let offset = offset.min(self.text.len());
        let before = &self.text[..offset];
        let line = before.matches('\n').count() + 1;
        let col = before.rfind('\n').map_or(offset, |nl| offset - nl - 1) + 1;
        (line, col)
    }
}

/// All files of a project, indexed by the `file` id that spans carry.
#[derive(Debug, Clone, Default)]
pub struct Sources {
    files: Vec<SourceFile>,
}

impl Sources {
    pub(crate) fn add(&mut self, path: &Path, text: String) -> usize {
        self.files.push(SourceFile {
            path: path.to_path_buf(),
            text: Arc::new(text),
        });
        self.files.len() - 1
    }

    /// The file with id `id`.
    pub fn get(&self, id: usize) -> &SourceFile {
        &self.files[id]
    }

    /// Every file, in layering order.
    pub fn files(&self) -> &[SourceFile] {
        &self.files
    }

    /// A printable location for a span in file `id`.
    pub fn locate(&self, id: usize, span: SourceSpan) -> Location {
        let file = self.get(id);
        let (line, column) = file.line_col(span.offset());
        Location {
            path: file.path.clone(),
            line,
            column,
        }
    }
}

/// `file:line:column`, 1-based.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    /// File path.
    pub path: PathBuf,
    /// 1-based line.
    pub line: usize,
    /// 1-based column.
    pub column: usize,
}

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}:{}", self.path.display(), self.line, self.column)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_col_counts_from_one() {
        let mut s = Sources::default();
        let id = s.add(Path::new("f.kdl"), "ab\ncde\n".into());
        assert_eq!(s.get(id).line_col(0), (1, 1));
        assert_eq!(s.get(id).line_col(4), (2, 2));
        assert_eq!(s.locate(id, (3, 1).into()).to_string(), "f.kdl:2:1");
    }
}
