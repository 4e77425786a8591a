//! The image's own parts besides the binaries: the system layer on scratch (users, CA bundle, time
//! zones), the OCI labels and the image config.

use super::*;

/// `/etc/passwd`, `/etc/group`, `/tmp`, the CA bundle and maybe time-zone data.
pub(super) fn system_layer(
    options: &Options,
    layout: &Layout,
    source_date: u64,
) -> Result<Layer, Error> {
    let mut builder = LayerBuilder::new();
    builder.bytes(
        "etc/passwd",
        0o644,
        format!(
            "root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:{NONROOT}:{NONROOT}:nonroot:/home/nonroot:/sbin/nologin\n"
        )
        .into_bytes(),
    );
    builder.bytes(
        "etc/group",
        0o644,
        format!("root:x:0:\nnonroot:x:{NONROOT}:\n").into_bytes(),
    );
    builder.dir("home/nonroot", 0o700, NONROOT);
    builder.dir("tmp", 0o1777, 0);
    if !options.ca_bundle.is_file() {
        return Err(Error::Invalid(format!(
            "no CA bundle at {} (install ca-certificates or pass --ca-bundle)",
            options.ca_bundle.display()
        )));
    }
    builder.file(
        "etc/ssl/certs/ca-certificates.crt",
        0o644,
        &options.ca_bundle,
    );
    if options.tzdata {
        let zoneinfo = Path::new("/usr/share/zoneinfo");
        builder
            .tree("usr/share/zoneinfo", zoneinfo)
            .map_err(crate::image::Error::io(format!(
                "reading {} (install tzdata)",
                zoneinfo.display()
            )))?;
    }
    Ok(builder.write(layout, source_date)?)
}

pub(super) fn labels(
    options: &Options,
    git: Option<&git::GitState>,
    version: &str,
    created: &str,
) -> Vec<(String, String)> {
    let mut labels = vec![(
        "org.opencontainers.image.created".to_owned(),
        created.to_owned(),
    )];
    let source = options
        .source_url
        .clone()
        .or_else(|| git.and_then(|git| git.remote.clone()));
    if let Some(source) = source {
        labels.push(("org.opencontainers.image.source".into(), source));
    }
    if let Some(git) = git {
        labels.push((
            "org.opencontainers.image.revision".into(),
            git.commit.clone(),
        ));
    }
    if !version.is_empty() {
        labels.push((
            "org.opencontainers.image.version".into(),
            version.to_owned(),
        ));
    }
    labels.extend(options.labels.iter().cloned());
    labels
}

/// What one platform's image config is made of.
pub(super) struct ConfigParts<'a> {
    pub(super) platform: &'a Platform,
    /// The base image's config, if there is a base.
    pub(super) base: Option<&'a Value>,
    pub(super) base_layers: &'a [Descriptor],
    /// berth's own layers with their history lines.
    pub(super) own: &'a [(&'a Layer, String)],
    pub(super) entrypoint: &'a str,
    pub(super) labels: &'a [(String, String)],
    pub(super) created: &'a str,
}

/// The image config: the base's settings (if any) under berth's user, entrypoint, working
/// directory, environment, ports and labels.
pub(super) fn image_config(parts: &ConfigParts, options: &Options) -> Value {
    let ConfigParts {
        platform,
        base,
        base_layers,
        own,
        entrypoint,
        labels,
        created,
    } = *parts;
    let base_config = base.map(|base| &base["config"]);
    let mut env: Vec<String> = base_config
        .and_then(|config| config["Env"].as_array())
        .into_iter()
        .flatten()
        .filter_map(|value| value.as_str().map(str::to_owned))
        .collect();
    if !env.iter().any(|entry| entry.starts_with("PATH=")) {
        env.push(format!("PATH={APP_DIR}:/usr/local/bin:/usr/bin:/bin"));
    }
    for entry in &options.env {
        let key = entry.split('=').next().unwrap_or(entry);
        env.retain(|old| old.split('=').next() != Some(key));
        env.push(entry.clone());
    }
    let mut ports = base_config
        .and_then(|config| config["ExposedPorts"].as_object().cloned())
        .unwrap_or_default();
    for port in &options.ports {
        let port = if port.contains('/') {
            port.clone()
        } else {
            format!("{port}/tcp")
        };
        ports.insert(port, json!({}));
    }
    let mut all_labels = base_config
        .and_then(|config| config["Labels"].as_object().cloned())
        .unwrap_or_default();
    for (key, value) in labels {
        all_labels.insert(key.clone(), json!(value));
    }
    let mut diff_ids: Vec<Value> = base
        .and_then(|base| base["rootfs"]["diff_ids"].as_array().cloned())
        .unwrap_or_default();
    diff_ids.extend(
        own.iter()
            .map(|(layer, _)| json!(layer.diff_id.to_string())),
    );
    let mut history: Vec<Value> = base
        .and_then(|base| base["history"].as_array().cloned())
        .unwrap_or_else(|| {
            base_layers
                .iter()
                .map(|_| json!({"comment": "base layer"}))
                .collect()
        });
    history.extend(
        own.iter()
            .map(|(_, created_by)| json!({ "created": created, "created_by": created_by })),
    );
    let mut config = json!({
        "created": created,
        "architecture": platform.architecture,
        "os": platform.os,
        "config": {
            "User": format!("{NONROOT}:{NONROOT}"),
            "Env": env,
            "Entrypoint": [format!("{APP_DIR}/{entrypoint}")],
            "WorkingDir": APP_DIR,
            "Labels": all_labels,
        },
        "rootfs": { "type": "layers", "diff_ids": diff_ids },
        "history": history,
    });
    if !ports.is_empty() {
        config["config"]["ExposedPorts"] = Value::Object(ports);
    }
    if let Some(variant) = &platform.variant {
        config["variant"] = json!(variant);
    }
    config
}
