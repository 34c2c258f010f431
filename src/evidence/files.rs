//! The bundle on disk: evidence.json, evidence.md, the OSCAL documents (Assessment Results of
//! the current state, the Assessment Plan it imports, the Component Definition) and the
//! SHA256SUMS of them all.

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
    let generated = oscal::generated_at();
    let results = oscal::to_text(&oscal::assessment_results(
        &oscal::from_bundle(bundle),
        generated,
    ));
    let [plan, components] = oscal::companions(generated);
    let mut files: Vec<(&str, &[u8])> = vec![
        ("evidence.json", json.as_slice()),
        ("evidence.md", md.as_bytes()),
        (oscal::RESULTS_FILE, results.as_bytes()),
        (plan.0, plan.1.as_bytes()),
        (components.0, components.1.as_bytes()),
    ];
    let sums = sha256sums(&files);
    files.push(("SHA256SUMS", sums.as_bytes()));
    let mut written = Vec::new();
    for (name, bytes) in files {
        let path = dir.join(name);
        std::fs::write(&path, bytes).map_err(io(&path))?;
        written.push(path);
    }
    Ok(written)
}
