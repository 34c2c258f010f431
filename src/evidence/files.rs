//! The bundle on disk: evidence.json, evidence.md and their SHA256SUMS.

use super::*;

/// `sha256sum` format: `<hex>  <name>` per line.
pub fn sha256sums(files: &[(&str, &[u8])]) -> String {
    files
        .iter()
        .map(|(name, bytes)| format!("{}  {name}\n", hex::encode(Sha256::digest(bytes))))
        .collect()
}

/// Writes the bundle; returns the paths written.
pub fn write(dir: &Path, bundle: &Bundle) -> Result<Vec<PathBuf>, EvidenceError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| EvidenceError::Write { path, source }
    };
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let json = serde_json::to_vec_pretty(bundle)?;
    let md = render_markdown(bundle);
    let sums = sha256sums(&[("evidence.json", &json), ("evidence.md", md.as_bytes())]);
    let mut written = Vec::new();
    for (name, bytes) in [
        ("evidence.json", json.as_slice()),
        ("evidence.md", md.as_bytes()),
        ("SHA256SUMS", sums.as_bytes()),
    ] {
        let path = dir.join(name);
        std::fs::write(&path, bytes).map_err(io(&path))?;
        written.push(path);
    }
    Ok(written)
}
