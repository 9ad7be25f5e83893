//! Archive members, from a tar file or a directory. A tar is indexed by its headers
//! alone (entries are skipped with seeks); names are normalised and links resolved,
//! and a name or link that leaves the archive is refused. Members are only looked up,
//! never used as paths.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use super::error::ArchiveError;

/// A tar member: where its bytes are, or the member it links to.
pub(super) enum Node {
    File { offset: u64, size: u64 },
    Link(String),
}

/// Where archive members come from: a tar file or a directory.
pub(super) enum Source {
    Tar {
        path: PathBuf,
        entries: HashMap<String, Node>,
    },
    Dir {
        path: PathBuf,
    },
}

/// Normalise an entry name, rejecting absolute names and `..` that leave the root.
pub(super) fn normalize(name: &str) -> Option<String> {
    if name.starts_with('/') {
        return None;
    }
    let mut parts: Vec<&str> = Vec::new();
    for c in name.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            c => parts.push(c),
        }
    }
    Some(parts.join("/"))
}

impl Source {
    pub(super) fn path(&self) -> &Path {
        match self {
            Source::Tar { path, .. } | Source::Dir { path } => path,
        }
    }

    pub(super) fn io(&self) -> impl FnOnce(io::Error) -> ArchiveError + '_ {
        move |source| ArchiveError::Io {
            path: self.path().to_path_buf(),
            source,
        }
    }

    /// A directory as it is, or a tar file indexed.
    pub(super) fn new(path: &Path) -> Result<Source, ArchiveError> {
        if path.is_dir() {
            Ok(Source::Dir {
                path: path.to_path_buf(),
            })
        } else {
            Source::index_tar(path)
        }
    }

    fn index_tar(path: &Path) -> Result<Source, ArchiveError> {
        let io_err = |source| ArchiveError::Io {
            path: path.to_path_buf(),
            source,
        };
        let truncated = |detail: String| ArchiveError::Truncated {
            path: path.to_path_buf(),
            detail,
        };
        let file = File::open(path).map_err(io_err)?;
        let len = file.metadata().map_err(io_err)?.len();
        let mut archive = tar::Archive::new(file);
        let mut entries = HashMap::new();
        let iter = archive
            .entries_with_seek()
            .map_err(|e| truncated(e.to_string()))?;
        for entry in iter {
            let entry = entry.map_err(|e| truncated(format!("bad tar header: {e}")))?;
            let raw = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
            let escape = || ArchiveError::PathEscape {
                path: path.to_path_buf(),
                entry: raw.clone(),
            };
            let name = normalize(&raw).ok_or_else(escape)?;
            let kind = entry.header().entry_type();
            let node = if kind.is_file() {
                let offset = entry.raw_file_position();
                let size = entry.size();
                if offset + size > len {
                    return Err(truncated(format!(
                        "`{raw}` needs {size} bytes at offset {offset}, the file has {len}"
                    )));
                }
                Node::File { offset, size }
            } else if kind.is_symlink() || kind.is_hard_link() {
                let target = entry
                    .link_name_bytes()
                    .map(|b| String::from_utf8_lossy(&b).into_owned())
                    .unwrap_or_default();
                let joined = if kind.is_symlink() {
                    match name.rsplit_once('/') {
                        Some((dir, _)) => format!("{dir}/{target}"),
                        None => target.clone(),
                    }
                } else {
                    target.clone()
                };
                Node::Link(normalize(&joined).ok_or_else(|| ArchiveError::PathEscape {
                    path: path.to_path_buf(),
                    entry: format!("{raw} -> {target}"),
                })?)
            } else {
                continue;
            };
            entries.insert(name, node);
        }
        if entries.is_empty() {
            return Err(ArchiveError::Format {
                path: path.to_path_buf(),
                message: "not a tar archive, or an empty one".into(),
            });
        }
        Ok(Source::Tar {
            path: path.to_path_buf(),
            entries,
        })
    }

    /// Offset and size of a member, following links.
    fn locate(&self, name: &str) -> Option<(u64, u64)> {
        let Source::Tar { entries, .. } = self else {
            return None;
        };
        let mut name = normalize(name)?;
        for _ in 0..16 {
            match entries.get(&name)? {
                Node::File { offset, size } => return Some((*offset, *size)),
                Node::Link(t) => name = t.clone(),
            }
        }
        None
    }

    pub(super) fn exists(&self, name: &str) -> bool {
        match self {
            Source::Tar { .. } => self.locate(name).is_some(),
            Source::Dir { path } => normalize(name).is_some_and(|n| path.join(n).is_file()),
        }
    }

    /// Open a member: a reader over exactly its bytes, and its size.
    pub(super) fn open(&self, name: &str) -> Result<(Box<dyn Read + Send>, u64), ArchiveError> {
        let missing = || ArchiveError::Format {
            path: self.path().to_path_buf(),
            message: format!("`{name}` is listed but not in the archive"),
        };
        match self {
            Source::Tar { path, .. } => {
                let (offset, size) = self.locate(name).ok_or_else(missing)?;
                let mut f = File::open(path).map_err(self.io())?;
                f.seek(SeekFrom::Start(offset)).map_err(self.io())?;
                Ok((Box::new(f.take(size)), size))
            }
            Source::Dir { path } => {
                let n = normalize(name).ok_or_else(|| ArchiveError::PathEscape {
                    path: path.clone(),
                    entry: name.to_string(),
                })?;
                let p = path.join(n);
                let f = File::open(&p).map_err(|_| missing())?;
                let size = f.metadata().map_err(self.io())?.len();
                Ok((Box::new(f), size))
            }
        }
    }

    pub(super) fn read_small(&self, name: &str, limit: u64) -> Result<Vec<u8>, ArchiveError> {
        let (r, size) = self.open(name)?;
        if size > limit {
            return Err(ArchiveError::Format {
                path: self.path().to_path_buf(),
                message: format!("`{name}` is {size} bytes, more than the {limit}-byte limit"),
            });
        }
        let mut buf = Vec::with_capacity(size as usize);
        r.take(limit).read_to_end(&mut buf).map_err(self.io())?;
        Ok(buf)
    }

    /// A [`ArchiveError::Format`] about this archive.
    pub(super) fn format_err(&self, message: String) -> ArchiveError {
        ArchiveError::Format {
            path: self.path().to_path_buf(),
            message,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalize_rejects_escapes() {
        assert_eq!(normalize("./a/b/../c").as_deref(), Some("a/c"));
        assert_eq!(normalize("/etc/passwd"), None);
        assert_eq!(normalize("a/../../x"), None);
    }
}
