//! Image references, after distribution/reference: `[domain/]path[:tag][@digest]`.

use std::fmt;

/// The normalised Docker Hub domain.
pub const DOCKER_HUB: &str = "docker.io";

/// Why a reference or tag is not valid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReferenceError {
    /// The tag breaks `[A-Za-z0-9_][A-Za-z0-9._-]{0,127}`.
    #[error(
        "invalid tag `{tag}`: a tag is 1-128 characters of letters, digits, `_`, `.` and `-`, and cannot start with `.` or `-`"
    )]
    InvalidTag {
        /// The tag.
        tag: String,
    },
    /// The repository path breaks the grammar.
    #[error("invalid image name `{name}`: {reason}")]
    InvalidName {
        /// The name.
        name: String,
        /// What is wrong.
        reason: String,
    },
}

/// A parsed image reference. `domain` is `None` when the name has no registry host
/// (it would go to Docker Hub).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    /// Registry host (with port), as written.
    pub domain: Option<String>,
    /// Repository path without the domain, e.g. `org/app`.
    pub path: String,
    /// Tag, if written.
    pub tag: Option<String>,
    /// Digest, if written.
    pub digest: Option<String>,
}

/// Validate a tag: `[A-Za-z0-9_][A-Za-z0-9._-]{0,127}`.
pub fn validate_tag(tag: &str) -> Result<(), ReferenceError> {
    let mut chars = tag.chars();
    let ok = tag.len() <= 128
        && matches!(chars.next(), Some(c) if c.is_ascii_alphanumeric() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
    if ok {
        Ok(())
    } else {
        Err(ReferenceError::InvalidTag {
            tag: tag.to_string(),
        })
    }
}

/// Does the first path component name a registry host? (distribution/reference's rule:
/// it contains `.` or `:`, or is `localhost`, or has an upper-case letter.)
fn is_domain(component: &str) -> bool {
    component.contains('.')
        || component.contains(':')
        || component == "localhost"
        || component.chars().any(|c| c.is_ascii_uppercase())
}

fn valid_path_component(c: &str) -> bool {
    // [a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*
    if c.is_empty() {
        return false;
    }
    let bytes = c.as_bytes();
    let alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    if !alnum(bytes[0]) || !alnum(bytes[bytes.len() - 1]) {
        return false;
    }
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if alnum(b) {
            i += 1;
            continue;
        }
        let start = i;
        while i < bytes.len() && !alnum(bytes[i]) {
            i += 1;
        }
        let sep = &c[start..i];
        let ok = sep == "." || sep == "_" || sep == "__" || sep.chars().all(|x| x == '-');
        if !ok {
            return false;
        }
    }
    true
}

impl Reference {
    /// Parse `name`, e.g. `ghcr.io/org/app:v1`, `localhost:5000/app`, `app@sha256:...`.
    pub fn parse(name: &str) -> Result<Reference, ReferenceError> {
        let invalid = |reason: &str| ReferenceError::InvalidName {
            name: name.to_string(),
            reason: reason.to_string(),
        };
        let (rest, digest) = match name.split_once('@') {
            Some((r, d)) => {
                let (algo, hex) = d
                    .split_once(':')
                    .ok_or_else(|| invalid("digest must be algorithm:hex"))?;
                if algo.is_empty() || hex.len() < 32 || !hex.chars().all(|c| c.is_ascii_hexdigit())
                {
                    return Err(invalid("digest must be algorithm:hex"));
                }
                (r, Some(d.to_string()))
            }
            None => (name, None),
        };
        let last_slash = rest.rfind('/').map_or(0, |i| i + 1);
        let (rest, tag) = match rest[last_slash..].rfind(':') {
            Some(i) => {
                let tag = &rest[last_slash + i + 1..];
                validate_tag(tag)?;
                (&rest[..last_slash + i], Some(tag.to_string()))
            }
            None => (rest, None),
        };
        let (domain, path) = match rest.split_once('/') {
            Some((first, remainder)) if is_domain(first) => (Some(first.to_string()), remainder),
            _ => (None, rest),
        };
        if path.is_empty() {
            return Err(invalid("the repository path is empty"));
        }
        if rest.len() > 255 {
            return Err(invalid("the name is longer than 255 characters"));
        }
        if let Some(bad) = path.split('/').find(|c| !valid_path_component(c)) {
            return Err(invalid(&format!(
                "`{bad}` is not a valid path component (lower-case letters, digits and separators `.`, `_`, `__`, `-`)"
            )));
        }
        if let Some(d) = &domain
            && (d.starts_with('-') || d.ends_with('-') || d.contains('/'))
        {
            return Err(invalid("the registry host is not valid"));
        }
        Ok(Reference {
            domain,
            path: path.to_string(),
            tag,
            digest,
        })
    }

    /// The repository without tag or digest, as written: `ghcr.io/org/app`.
    pub fn repository(&self) -> String {
        match &self.domain {
            Some(d) => format!("{d}/{}", self.path),
            None => self.path.clone(),
        }
    }

    /// The registry host the reference goes to; `docker.io` for names without a host.
    pub fn registry(&self) -> &str {
        match self.domain.as_deref() {
            None | Some("index.docker.io") | Some("registry-1.docker.io") => DOCKER_HUB,
            Some(d) => d,
        }
    }

    /// The repository path as the registry API names it: Docker Hub's one-component
    /// names are `library/<name>`.
    pub fn api_path(&self) -> String {
        if self.registry() == DOCKER_HUB && !self.path.contains('/') {
            format!("library/{}", self.path)
        } else {
            self.path.clone()
        }
    }

    /// What to ask the registry for: the digest, else the tag, else `latest`.
    pub fn target(&self) -> &str {
        self.digest
            .as_deref()
            .or(self.tag.as_deref())
            .unwrap_or("latest")
    }

    /// The fully qualified name, `registry/path:tag` (or `@digest`), with `latest` when
    /// neither is written: the key under which the cache records an image.
    pub fn canonical(&self) -> String {
        let base = format!("{}/{}", self.registry(), self.api_path());
        match (&self.tag, &self.digest) {
            (_, Some(d)) => format!("{base}@{d}"),
            (Some(t), None) => format!("{base}:{t}"),
            (None, None) => format!("{base}:latest"),
        }
    }

    /// A copy with `tag`, no digest.
    pub fn with_tag(&self, tag: &str) -> Reference {
        Reference {
            tag: Some(tag.to_string()),
            digest: None,
            ..self.clone()
        }
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.repository())?;
        if let Some(t) = &self.tag {
            write!(f, ":{t}")?;
        }
        if let Some(d) = &self.digest {
            write!(f, "@{d}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_domains_ports_tags() {
        let r = Reference::parse("localhost:5000/app").unwrap();
        assert_eq!(
            (r.domain.as_deref(), r.path.as_str(), r.tag),
            (Some("localhost:5000"), "app", None)
        );
        let r = Reference::parse("ghcr.io/org/app:v1.2").unwrap();
        assert_eq!(r.repository(), "ghcr.io/org/app");
        assert_eq!(r.tag.as_deref(), Some("v1.2"));
        let r = Reference::parse("myuser/app").unwrap();
        assert_eq!((r.domain.clone(), r.registry()), (None, DOCKER_HUB));
        let r = Reference::parse("123456.dkr.ecr.ap-northeast-1.amazonaws.com/app:1").unwrap();
        assert_eq!(r.registry(), "123456.dkr.ecr.ap-northeast-1.amazonaws.com");
        assert_eq!(
            Reference::parse("127.0.0.1:5000/a/b:t")
                .unwrap()
                .to_string(),
            "127.0.0.1:5000/a/b:t"
        );
    }

    #[test]
    fn canonical_names() {
        let r = Reference::parse("busybox").unwrap();
        assert_eq!(r.canonical(), "docker.io/library/busybox:latest");
        assert_eq!(r.api_path(), "library/busybox");
        let r = Reference::parse("127.0.0.1:5000/a/b@sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a").unwrap();
        assert_eq!(
            r.target(),
            "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"
        );
        assert_eq!(r.api_path(), "a/b");
        assert!(Reference::parse(&format!("x/{}", "a".repeat(300))).is_err());
    }

    #[test]
    fn rejects_bad_names_and_tags() {
        assert!(Reference::parse("App").is_err());
        assert!(Reference::parse("app:-bad").is_err());
        assert!(Reference::parse("a//b").is_err());
        assert!(validate_tag(".x").is_err());
        assert!(validate_tag(&"a".repeat(129)).is_err());
        assert!(validate_tag(&"a".repeat(128)).is_ok());
        assert!(validate_tag("v1.2.0_rc-1").is_ok());
        assert!(validate_tag("").is_err());
    }
}
