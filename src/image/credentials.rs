//! Registry credentials the way Docker keeps them: `$DOCKER_CONFIG/config.json` (else
//! `~/.docker/config.json`), with `auths` entries, per-registry `credHelpers` and a default
//! `credsStore`. A helper is the program `docker-credential-<name>`, asked with `get` and the
//! registry host on stdin, answering `{"Username": …, "Secret": …}`.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use base64::Engine;

use super::Error;

/// A user name and password (or token) for Basic auth and token requests, or the refresh
/// token (`identitytoken`) `docker login` keeps when the registry issued one.
#[derive(Clone)]
pub struct Credentials {
    pub username: String,
    pub password: String,
    pub identity_token: Option<String>,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Credentials({}, ***)", self.username)
    }
}

/// The Docker config file berth reads, if there is one.
fn config_path() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("DOCKER_CONFIG") {
        return Some(PathBuf::from(dir).join("config.json"));
    }
    std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".docker/config.json"))
}

/// The credentials for `registry` (`host[:port]`) from the Docker config, if any.
pub fn lookup(registry: &str) -> Result<Option<Credentials>, Error> {
    let Some(path) = config_path() else {
        return Ok(None);
    };
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::io(format!("reading {}", path.display()))(e)),
    };
    let config: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| Error::Invalid(format!("{}: {e}", path.display())))?;
    from_config(&config, registry)
}

/// The keys a registry may be filed under in `auths`: Docker writes Hub as its v1 URL.
fn keys_for(registry: &str) -> Vec<String> {
    let mut keys = vec![
        registry.to_owned(),
        format!("https://{registry}"),
        format!("http://{registry}"),
        format!("https://{registry}/v2/"),
    ];
    if registry == "registry-1.docker.io" {
        keys.push("https://index.docker.io/v1/".to_owned());
        keys.push("docker.io".to_owned());
    }
    keys
}

fn from_config(config: &serde_json::Value, registry: &str) -> Result<Option<Credentials>, Error> {
    let keys = keys_for(registry);
    let helper = keys
        .iter()
        .find_map(|key| config["credHelpers"][key].as_str())
        .or_else(|| config["credsStore"].as_str());
    if let Some(helper) = helper
        && let Some(credentials) = from_helper(helper, registry)?
    {
        return Ok(Some(credentials));
    }
    for key in &keys {
        let entry = &config["auths"][key];
        let identity_token = entry["identitytoken"]
            .as_str()
            .filter(|token| !token.is_empty())
            .map(str::to_owned);
        if let Some(auth) = entry["auth"].as_str().filter(|auth| !auth.is_empty()) {
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(auth)
                .ok()
                .and_then(|bytes| String::from_utf8(bytes).ok())
                .ok_or_else(|| Error::Invalid(format!("auths[{key:?}].auth is not base64")))?;
            let (username, password) = decoded.split_once(':').ok_or_else(|| {
                Error::Invalid(format!("auths[{key:?}].auth is not user:password"))
            })?;
            return Ok(Some(Credentials {
                username: username.to_owned(),
                password: password.to_owned(),
                identity_token,
            }));
        }
        if let (Some(username), Some(password)) =
            (entry["username"].as_str(), entry["password"].as_str())
        {
            return Ok(Some(Credentials {
                username: username.to_owned(),
                password: password.to_owned(),
                identity_token,
            }));
        }
    }
    Ok(None)
}

/// Asks `docker-credential-<helper>`; a helper that knows nothing of the registry is `None`.
fn from_helper(helper: &str, registry: &str) -> Result<Option<Credentials>, Error> {
    let program = format!("docker-credential-{helper}");
    let mut child = Command::new(&program)
        .arg("get")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(Error::io(format!("running {program}")))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(registry.as_bytes())
            .map_err(Error::io(format!("writing to {program}")))?;
    }
    let output = child
        .wait_with_output()
        .map_err(Error::io(format!("running {program}")))?;
    if !output.status.success() {
        // Helpers answer "credentials not found in native keychain" with a failure.
        return Ok(None);
    }
    let answer: serde_json::Value = serde_json::from_slice(&output.stdout)
        .map_err(|e| Error::Invalid(format!("{program} answered with invalid JSON: {e}")))?;
    match (answer["Username"].as_str(), answer["Secret"].as_str()) {
        // Helpers file identity tokens under the user name `<token>`.
        (Some("<token>"), Some(secret)) => Ok(Some(Credentials {
            username: String::new(),
            password: String::new(),
            identity_token: Some(secret.to_owned()),
        })),
        (Some(username), Some(secret)) => Ok(Some(Credentials {
            username: username.to_owned(),
            password: secret.to_owned(),
            identity_token: None,
        })),
        _ => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auths_entries_are_found_under_every_spelling() {
        let config = serde_json::json!({
            "auths": {
                "127.0.0.1:5000": {"auth": "YWRtaW46c2VjcmV0"},
                "https://index.docker.io/v1/": {"auth": "aHViOnB3"},
                "https://ghcr.io": {"username": "me", "password": "pat"},
                "localhost:5000": {"auth": "YWRtaW46", "identitytoken": "refresh"}
            }
        });
        let found = from_config(&config, "127.0.0.1:5000").unwrap().unwrap();
        assert_eq!(
            (found.username.as_str(), found.password.as_str()),
            ("admin", "secret")
        );
        let hub = from_config(&config, "registry-1.docker.io")
            .unwrap()
            .unwrap();
        assert_eq!(hub.username, "hub");
        assert_eq!(
            from_config(&config, "ghcr.io").unwrap().unwrap().password,
            "pat"
        );
        assert!(from_config(&config, "quay.io").unwrap().is_none());
        let refresh = from_config(&config, "localhost:5000").unwrap().unwrap();
        assert_eq!(refresh.identity_token.as_deref(), Some("refresh"));
    }
}
