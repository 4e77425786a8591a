//! Image references as Docker writes them: `[registry/]repository[:tag][@digest]`.
//!
//! The first component is a registry when it holds a `.` or a `:` or is `localhost`; otherwise
//! the reference is on Docker Hub, where one-component names live under `library/`.

use std::fmt;

use super::Error;
use crate::oci::digest::Digest;

/// Docker Hub's registry host, as the Distribution API reaches it.
const DOCKER_HUB: &str = "registry-1.docker.io";

/// A parsed image reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    /// `host[:port]`.
    pub registry: String,
    /// The repository name, e.g. `team/app`.
    pub repository: String,
    pub tag: Option<String>,
    pub digest: Option<Digest>,
}

impl Reference {
    pub fn parse(text: &str) -> Result<Reference, Error> {
        let invalid = || Error::Reference(text.to_owned());
        let (rest, digest) = match text.split_once('@') {
            Some((rest, digest)) => (rest, Some(digest.parse().map_err(|_| invalid())?)),
            None => (text, None),
        };
        // A tag follows the last `:` after the last `/` (a `:` before it is a port).
        let last_slash = rest.rfind('/').map_or(0, |i| i + 1);
        let (name, tag) = match rest[last_slash..].rfind(':') {
            Some(i) => (
                &rest[..last_slash + i],
                Some(rest[last_slash + i + 1..].to_owned()),
            ),
            None => (rest, None),
        };
        let (registry, repository) = match name.split_once('/') {
            Some((first, path))
                if first.contains('.') || first.contains(':') || first == "localhost" =>
            {
                (first.to_owned(), path.to_owned())
            }
            _ if name.contains('/') => (DOCKER_HUB.to_owned(), name.to_owned()),
            _ => (DOCKER_HUB.to_owned(), format!("library/{name}")),
        };
        if crate::oci::names::validate_name(&repository).is_err() {
            return Err(invalid());
        }
        if let Some(tag) = &tag
            && crate::oci::names::validate_tag(tag).is_err()
        {
            return Err(invalid());
        }
        Ok(Reference {
            registry: if registry == "docker.io" || registry == "index.docker.io" {
                DOCKER_HUB.to_owned()
            } else {
                registry
            },
            repository,
            tag,
            digest,
        })
    }

    /// What to ask the registry for: the digest when there is one, else the tag, else `latest`.
    pub fn target(&self) -> String {
        match (&self.digest, &self.tag) {
            (Some(digest), _) => digest.to_string(),
            (None, Some(tag)) => tag.clone(),
            (None, None) => "latest".to_owned(),
        }
    }

    /// The same repository with another tag.
    pub fn with_tag(&self, tag: &str) -> Reference {
        Reference {
            tag: Some(tag.to_owned()),
            digest: None,
            ..self.clone()
        }
    }

    /// `registry/repository` without tag or digest.
    pub fn name(&self) -> String {
        format!("{}/{}", self.registry, self.repository)
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.name())?;
        if let Some(tag) = &self.tag {
            write!(f, ":{tag}")?;
        }
        if let Some(digest) = &self.digest {
            write!(f, "@{digest}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn check(text: &str, registry: &str, repository: &str, tag: Option<&str>) {
        let reference = Reference::parse(text).unwrap();
        assert_eq!(reference.registry, registry, "{text}");
        assert_eq!(reference.repository, repository, "{text}");
        assert_eq!(reference.tag.as_deref(), tag, "{text}");
    }

    #[test]
    fn registries_ports_tags_and_hub_names() {
        check(
            "127.0.0.1:5000/team/app:v1.4.0",
            "127.0.0.1:5000",
            "team/app",
            Some("v1.4.0"),
        );
        check("localhost/team/app", "localhost", "team/app", None);
        check(
            "golang:1.22-alpine",
            DOCKER_HUB,
            "library/golang",
            Some("1.22-alpine"),
        );
        check(
            "gcr.io/distroless/static",
            "gcr.io",
            "distroless/static",
            None,
        );
        check("team/app:dev", DOCKER_HUB, "team/app", Some("dev"));
        let pinned = Reference::parse(
            "ghcr.io/a/b:1@sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        )
        .unwrap();
        assert_eq!(pinned.target(), pinned.digest.as_ref().unwrap().to_string());
        for bad in ["", "Team/App", "host:5000/app:bad tag", "app@sha256:12"] {
            assert!(Reference::parse(bad).is_err(), "{bad}");
        }
    }
}
