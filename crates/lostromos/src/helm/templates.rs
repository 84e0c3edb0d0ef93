//! The original's second back end: a directory of Go `*.tmpl` templates,
//! executed with each CR. Lostrómos turns the directory into a chart it
//! generates, so each CR is still one helm release: install, upgrade, history,
//! and an uninstall that removes exactly what was created.
//!
//! The generated chart, named after the directory:
//! - `templates/_<file>`: each template file, with its `GetField` calls
//!   rewritten ([`go_template`]); the leading `_` keeps helm from rendering it
//!   on its own;
//! - `templates/_lostromos.tpl`: the `GetField` helper, and one `define` per
//!   file under the file's name, so `{{ template "configmap.yaml.tmpl" . }}`
//!   finds it as it did with Go's `ParseGlob`;
//! - `templates/lostromos.yaml`: builds the original's data (the CR with
//!   `.Name`, `.Resource.Object`, and its own fields) from the values, and
//!   executes the first file by name with it.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::helm::error::SourceNames;
use crate::helm::go_template::{self, GET_FIELD};
use crate::plan::naming::hex;

/// The values key the CR is given under (see `Layout::Whole`).
pub const CR_KEY: &str = "cr";

/// The generated root template and helper, as helm names them under the chart.
const ROOT_FILE: &str = "lostromos.yaml";
const HELPER_FILE: &str = "_lostromos.tpl";

#[derive(Debug, thiserror::Error)]
pub enum TemplatesError {
    #[error("--templates {dir}: cannot read it: {cause}; fix: point --templates at a directory of *.tmpl files")]
    Read { dir: String, cause: std::io::Error },
    #[error("--templates {dir}: no *.tmpl file in it; fix: point --templates at the directory of the *.tmpl files (the first by name is executed, and includes the others)")]
    Empty { dir: String },
    #[error("--templates {dir}: {file} is not UTF-8 text")]
    NotText { dir: String, file: String },
    #[error("cannot write the chart generated from --templates {dir} at {path}: {cause}")]
    Write {
        dir: String,
        path: PathBuf,
        cause: std::io::Error,
    },
}

/// A directory of templates, read.
#[derive(Clone, Debug)]
pub struct TemplateSet {
    dir: PathBuf,
    /// (file name, text), sorted as Go's glob sorts: the first is the root.
    files: Vec<(String, String)>,
}

/// Reads `dir/*.tmpl` (not subdirectories), as the original's `ParseGlob` did.
pub fn load(dir: &Path) -> Result<TemplateSet, TemplatesError> {
    let shown = dir.display().to_string();
    let read_err = |cause| TemplatesError::Read {
        dir: shown.clone(),
        cause,
    };
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(read_err)? {
        let path = entry.map_err(read_err)?.path();
        let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        if !name.ends_with(".tmpl") || !path.is_file() {
            continue;
        }
        let bytes = std::fs::read(&path).map_err(read_err)?;
        let text = String::from_utf8(bytes).map_err(|_| TemplatesError::NotText {
            dir: shown.clone(),
            file: name.to_owned(),
        })?;
        files.push((name.to_owned(), text));
    }
    if files.is_empty() {
        return Err(TemplatesError::Empty { dir: shown });
    }
    files.sort();
    Ok(TemplateSet {
        dir: dir.to_path_buf(),
        files,
    })
}

impl TemplateSet {
    /// The file executed: the first by name.
    pub fn root(&self) -> &str {
        &self.files[0].0
    }

    /// The chart's name: the directory's (its parent's when it is just
    /// `templates`), made a valid chart name.
    pub fn chart_name(&self) -> String {
        let dir = self.dir.canonicalize().unwrap_or_else(|_| self.dir.clone());
        let name_of = |p: &Path| {
            p.file_name()
                .map(|n| n.to_string_lossy().to_lowercase())
                .unwrap_or_default()
        };
        let mut base = name_of(&dir);
        if base == "templates" {
            if let Some(parent) = dir.parent().map(name_of).filter(|p| !p.is_empty()) {
                base = parent;
            }
        }
        let mut name: String = base
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
            .collect();
        name = name.trim_matches('-').to_owned();
        if name.is_empty() || !name.starts_with(|c: char| c.is_ascii_lowercase()) {
            name = format!("templates-{name}").trim_end_matches('-').to_owned();
        }
        name.truncate(53);
        name
    }

    /// The generated chart's files: (path inside the chart, content).
    pub fn chart_files(&self) -> Vec<(String, String)> {
        let name = self.chart_name();
        let mut h = Sha256::new();
        for (file, text) in &self.files {
            h.update(file.as_bytes());
            h.update([0]);
            h.update((text.len() as u64).to_le_bytes());
            h.update(text.as_bytes());
        }
        let digest = hex(&h.finalize());
        let chart_yaml = format!(
            "# Generated by Lostrómos from a directory of Go templates; edit the templates, not this.\n\
             apiVersion: v2\n\
             name: {name}\n\
             version: 0.0.0+{}\n\
             description: The Go templates of {name}/ (root {}), one release per custom resource\n\
             type: application\n",
            &digest[..12],
            quoted(self.root()),
        );
        let mut out = vec![
            ("Chart.yaml".to_owned(), chart_yaml),
            (format!("templates/{HELPER_FILE}"), helper()),
            (format!("templates/{ROOT_FILE}"), self.root_template(&name)),
        ];
        let renames: go_template::Renames = self
            .files
            .iter()
            .map(|(file, _)| (file.clone(), helm_name(&name, file)))
            .collect();
        for (file, text) in &self.files {
            out.push((
                format!("templates/_{file}"),
                go_template::rewrite(text, &renames),
            ));
        }
        out
    }

    /// Writes the chart into a fresh `parent/<name>`, and returns its path.
    pub fn write_chart(&self, parent: &Path) -> Result<PathBuf, TemplatesError> {
        let chart = parent.join(self.chart_name());
        let write_err = |path: &Path, cause| TemplatesError::Write {
            dir: self.dir.display().to_string(),
            path: path.to_path_buf(),
            cause,
        };
        if chart.exists() {
            std::fs::remove_dir_all(&chart).map_err(|e| write_err(&chart, e))?;
        }
        for (rel, text) in self.chart_files() {
            let path = chart.join(rel);
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir).map_err(|e| write_err(dir, e))?;
            }
            std::fs::write(&path, text).map_err(|e| write_err(&path, e))?;
        }
        Ok(chart)
    }

    /// How helm's messages name the generated files, in the user's terms.
    pub fn source_names(&self) -> SourceNames {
        let name = self.chart_name();
        let dir = self.dir.display();
        let mut pairs: Vec<(String, String)> = self
            .files
            .iter()
            .map(|(file, _)| (format!("{name}/templates/_{file}"), format!("{dir}/{file}")))
            .collect();
        pairs.push((
            format!("{name}/templates/{ROOT_FILE}"),
            format!("{dir}/{} (the root template's output)", self.root()),
        ));
        pairs.push((
            format!("{name}/templates/{HELPER_FILE}"),
            "GetField".to_owned(),
        ));
        SourceNames::new(pairs)
    }

    /// Builds the original's data from the values, and executes the root.
    fn root_template(&self, chart: &str) -> String {
        let root = quoted(&helm_name(chart, self.root()));
        format!(
            r#"{{{{- /* Generated by Lostrómos: executes the first file with the custom resource, as the original did.
Its data: .Name, .Resource.Object (the CR), .Resource.GetName and friends, the CR's own
fields (.metadata, .spec), and the chart's .Values, .Release, .Capabilities. */ -}}}}
{{{{- $cr := .Values.{CR_KEY} | default dict -}}}}
{{{{- $meta := $cr.metadata | default dict -}}}}
{{{{- $resource := dict "Object" $cr "GetName" ($meta.name | default "") "GetNamespace" ($meta.namespace | default "") "GetLabels" ($meta.labels | default dict) "GetAnnotations" ($meta.annotations | default dict) "GetUID" ($meta.uid | default "") "GetKind" ($cr.kind | default "") "GetAPIVersion" ($cr.apiVersion | default "") -}}}}
{{{{- $data := dict "Name" ($meta.name | default "") "Resource" $resource "Values" .Values "Release" .Release "Chart" .Chart "Capabilities" .Capabilities "Files" .Files "Template" .Template -}}}}
{{{{- range $key, $value := $cr -}}}}
{{{{- if not (hasKey $data $key) -}}}}{{{{- $_ := set $data $key $value -}}}}{{{{- end -}}}}
{{{{- end -}}}}
{{{{- template {root} $data -}}}}
"#
        )
    }
}

/// The `GetField` helper.
fn helper() -> String {
    format!(
        r#"{{{{- /* Generated by Lostrómos. GetField, as the original's CustomResource.GetField:
the string at that path of the custom resource, or "" when it is missing or not a string. */ -}}}}
{{{{- define "{GET_FIELD}" -}}}}
{{{{- $cr := first . -}}}}
{{{{- if not (and (kindIs "map" $cr) (hasKey $cr "Resource")) -}}}}
{{{{- fail "GetField is a method of the custom resource (the templates' top-level . or $); it was called on another value" -}}}}
{{{{- end -}}}}
{{{{- $value := $cr.Resource.Object -}}}}
{{{{- range $field := rest . -}}}}
{{{{- if kindIs "map" $value -}}}}
{{{{- $value = index $value (toString $field) -}}}}
{{{{- else -}}}}
{{{{- $value = "" -}}}}
{{{{- end -}}}}
{{{{- end -}}}}
{{{{- if kindIs "string" $value -}}}}{{{{- $value -}}}}{{{{- end -}}}}
{{{{- end -}}}}
"#
    )
}

/// How helm names a template file of the generated chart.
fn helm_name(chart: &str, file: &str) -> String {
    format!("{chart}/templates/_{file}")
}

/// A double-quoted string, as Go templates and YAML both read it.
fn quoted(s: &str) -> String {
    serde_json::Value::String(s.to_owned()).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir_with(files: &[(&str, &str)]) -> tempfile::TempDir {
        let dir = tempfile::Builder::new()
            .prefix("Characters_Templates")
            .tempdir()
            .unwrap();
        for (name, text) in files {
            std::fs::write(dir.path().join(name), text).unwrap();
        }
        dir
    }

    #[test]
    fn reads_only_tmpl_files_and_the_first_by_name_is_the_root() {
        let dir = dir_with(&[
            ("b.tmpl", "b"),
            ("0_base.tmpl", "{{ template \"b.tmpl\" . }}"),
            ("README.md", "not a template"),
        ]);
        std::fs::create_dir(dir.path().join("sub.tmpl")).unwrap();
        let set = load(dir.path()).unwrap();
        assert_eq!(set.root(), "0_base.tmpl");
        let names: Vec<&str> = set.files.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["0_base.tmpl", "b.tmpl"]);
    }

    #[test]
    fn an_empty_or_missing_directory_is_an_error_with_a_fix() {
        let dir = dir_with(&[("x.yaml", "")]);
        let e = load(dir.path()).unwrap_err().to_string();
        assert!(e.contains("no *.tmpl file") && e.contains("fix:"), "{e}");
        let e = load(&dir.path().join("nope")).unwrap_err().to_string();
        assert!(e.contains("cannot read it"), "{e}");
        let bin = dir_with(&[]);
        std::fs::write(bin.path().join("a.tmpl"), [0xff, 0xfe]).unwrap();
        let e = load(bin.path()).unwrap_err().to_string();
        assert!(e.contains("a.tmpl is not UTF-8"), "{e}");
    }

    #[test]
    fn template_actions_find_the_files_and_only_the_root_renders() {
        let dir = dir_with(&[
            ("0_base.tmpl", "---\n{{ template \"cm.tmpl\" . }}\n"),
            ("cm.tmpl", "name: {{ .GetField \"metadata\" \"name\" }}\n"),
        ]);
        let set = load(dir.path()).unwrap();
        let name = set.chart_name();
        assert!(name.starts_with("characters-templates"), "{name}");
        let files = set.chart_files();
        let paths: Vec<&str> = files.iter().map(|(p, _)| p.as_str()).collect();
        assert_eq!(
            paths,
            [
                "Chart.yaml",
                "templates/_lostromos.tpl",
                "templates/lostromos.yaml",
                "templates/_0_base.tmpl",
                "templates/_cm.tmpl",
            ]
        );
        assert!(files[2].1.contains(&format!(
            "{{{{- template \"{name}/templates/_0_base.tmpl\" $data -}}}}"
        )));
        assert!(files[3].1.contains(&format!(
            "{{{{ template \"{name}/templates/_cm.tmpl\" . }}}}"
        )));
        assert!(files[4]
            .1
            .contains("include \"lostromos.getField\" (list . \"metadata\" \"name\")"));
        let chart: serde_json::Value = serde_saphyr::from_str(&files[0].1).unwrap();
        assert_eq!(chart["name"], name.as_str());
    }

    #[test]
    fn the_chart_changes_with_the_templates_and_only_with_them() {
        let a = dir_with(&[("0.tmpl", "a")]);
        let one = load(a.path()).unwrap().chart_files();
        assert_eq!(one, load(a.path()).unwrap().chart_files());
        std::fs::write(a.path().join("0.tmpl"), "b").unwrap();
        let two = load(a.path()).unwrap().chart_files();
        assert_ne!(
            one[0].1, two[0].1,
            "Chart.yaml's version follows the content"
        );
    }

    #[test]
    fn helm_paths_are_named_as_the_user_knows_them() {
        let dir = dir_with(&[("0_base.tmpl", ""), ("cm.tmpl", "")]);
        let set = load(dir.path()).unwrap();
        let name = set.chart_name();
        let d = dir.path().display();
        let names = set.source_names();
        assert_eq!(
            names.apply(&format!(
                "execution error at ({name}/templates/_cm.tmpl:3:4): by is required"
            )),
            format!("execution error at ({d}/cm.tmpl:3:4): by is required")
        );
        assert_eq!(
            names.apply(&format!(
                "YAML parse error on {name}/templates/lostromos.yaml: x"
            )),
            format!("YAML parse error on {d}/0_base.tmpl (the root template's output): x")
        );
    }

    #[test]
    fn odd_directory_names_give_valid_chart_names() {
        for (dir, want) in [
            ("9lives", "templates-9lives"),
            ("---", "templates"),
            ("Ünï", "n"),
        ] {
            let set = TemplateSet {
                dir: PathBuf::from(format!("/nonexistent/{dir}")),
                files: vec![("a.tmpl".into(), String::new())],
            };
            assert_eq!(set.chart_name(), want, "{dir}");
        }
    }
}
