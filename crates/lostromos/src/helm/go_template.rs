//! The original's data model inside a chart. Its templates call
//! `.GetField "spec" "by"`, a method of the Go value they ran with. In a chart,
//! templates run on maps, and a map's field takes no arguments, so each such
//! call is rewritten into `include "lostromos.getField" (list RECEIVER "spec"
//! "by")`, which a helper of the generated chart answers as the method did.
//! `.Name` and `.Resource` need no rewrite: they are keys of that map.
//!
//! `{{ template "configmap.yaml.tmpl" . }}` names a file, as Go's `ParseGlob`
//! named them; in a chart the file is a template under its path, so the name
//! is rewritten to that path. (A `define` named after the file, with an
//! `include` in it, would hide where an error happened: helm reports only
//! the outermost call's position.)
//!
//! Only text inside actions changes, and never a line break, so helm's errors
//! keep the user's line numbers. Text the lexer cannot follow (an action left
//! open) is passed through unchanged for helm to report.

/// The helper of the generated chart that answers `GetField`.
pub const GET_FIELD: &str = "lostromos.getField";

/// Template names to rewrite in `template` actions: (as written, as helm knows it).
pub type Renames = std::collections::HashMap<String, String>;

/// Rewrites every `GetField` call in a template's text, and the names in
/// `template` actions found in `renames`.
pub fn rewrite(text: &str, renames: &Renames) -> String {
    let mut out = String::with_capacity(text.len() + text.len() / 8);
    let mut rest = text;
    while let Some(open) = rest.find("{{") {
        out.push_str(&rest[..open + 2]);
        let body = &rest[open + 2..];
        let Some(close) = action_end(body) else {
            out.push_str(body);
            return out;
        };
        out.push_str(&rewrite_action(&body[..close], renames));
        out.push_str("}}");
        rest = &body[close + 2..];
    }
    out.push_str(rest);
    out
}

/// Where the action that `body` starts ends (the index of its `}}`), skipping
/// comments and literals; `None` when it never does.
fn action_end(body: &str) -> Option<usize> {
    let b = body.as_bytes();
    // a comment is a whole action: `{{/* … */}}`, with optional trim markers
    let lead = if body.starts_with("- ") || body.starts_with("-\t") || body.starts_with("-\n") {
        1
    } else {
        0
    };
    let after_lead = body[lead..].trim_start();
    if after_lead.starts_with("/*") {
        let start = body.len() - after_lead.len();
        let end = body[start + 2..].find("*/")? + start + 4;
        return body[end..].find("}}").map(|i| i + end);
    }
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'}' if b.get(i + 1) == Some(&b'}') => return Some(i),
            b'"' | b'\'' => i = quoted_end(b, i)?,
            b'`' => i = body[i + 1..].find('`')? + i + 2,
            _ => i += 1,
        }
    }
    None
}

/// The index just past a quoted literal starting at `start` (`"…"` or `'…'`,
/// with backslash escapes, on one line).
fn quoted_end(b: &[u8], start: usize) -> Option<usize> {
    let quote = b[start];
    let mut i = start + 1;
    while i < b.len() {
        match b[i] {
            b'\\' => i += 2,
            b'\n' => return None,
            c if c == quote => return Some(i + 1),
            _ => i += 1,
        }
    }
    None
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Space,
    /// A string, raw string or character literal.
    Literal,
    /// `.Name` (one link of a chain).
    Field,
    /// `$` or `$name`.
    Variable,
    Open,
    Close,
    Pipe,
    /// `:=` or `=`.
    Assign,
    /// A keyword, function name, `true`, `nil`…
    Word,
    Other,
}

#[derive(Clone, Copy, Debug)]
struct Token<'a> {
    kind: Kind,
    text: &'a str,
}

fn is_word_start(c: char) -> bool {
    c.is_alphabetic() || c == '_'
}

fn is_word_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// Splits an action's inside (no delimiters, no trim markers) into tokens.
fn tokens(s: &str) -> Vec<Token<'_>> {
    let mut out = Vec::new();
    let mut i = 0;
    let b = s.as_bytes();
    while i < s.len() {
        let c = s[i..].chars().next().unwrap_or(' ');
        let word_end = |from: usize| {
            s[from..]
                .char_indices()
                .find(|(_, c)| !is_word_char(*c))
                .map_or(s.len(), |(j, _)| from + j)
        };
        let (kind, end) = match c {
            c if c.is_whitespace() => (
                Kind::Space,
                s[i..]
                    .char_indices()
                    .find(|(_, c)| !c.is_whitespace())
                    .map_or(s.len(), |(j, _)| i + j),
            ),
            '"' | '\'' => (Kind::Literal, quoted_end(b, i).unwrap_or(s.len())),
            '`' => (
                Kind::Literal,
                s[i + 1..].find('`').map_or(s.len(), |j| i + j + 2),
            ),
            '(' => (Kind::Open, i + 1),
            ')' => (Kind::Close, i + 1),
            '|' => (Kind::Pipe, i + 1),
            ':' if s[i..].starts_with(":=") => (Kind::Assign, i + 2),
            '=' => (Kind::Assign, i + 1),
            '$' => (Kind::Variable, word_end(i + 1)),
            '.' if s[i + 1..].chars().next().is_some_and(is_word_start) => {
                (Kind::Field, word_end(i + 1))
            }
            c if is_word_start(c) => (Kind::Word, word_end(i)),
            c => (Kind::Other, i + c.len_utf8()),
        };
        out.push(Token {
            kind,
            text: &s[i..end],
        });
        i = end;
    }
    out
}

/// Rewrites one action's inside, keeping its trim markers.
fn rewrite_action(body: &str, renames: &Renames) -> String {
    let lead = if body.starts_with('-') && body[1..].starts_with(char::is_whitespace) {
        1
    } else {
        0
    };
    let trail = if body.len() > lead + 1
        && body.ends_with('-')
        && body[..body.len() - 1].ends_with(char::is_whitespace)
    {
        1
    } else {
        0
    };
    let inner = &body[lead..body.len() - trail];
    let maybe_template = !renames.is_empty() && inner.contains("template");
    if (!inner.contains("GetField") && !maybe_template) || inner.trim_start().starts_with("/*") {
        return body.to_owned();
    }
    let renamed = rename_template(inner, renames);
    let toks = tokens(renamed.as_deref().unwrap_or(inner));
    let mut out = String::with_capacity(body.len() + 64);
    out.push_str(&body[..lead]);
    emit(&toks, &mut out);
    out.push_str(&body[body.len() - trail..]);
    out
}

/// `inner` with the name of `template "name" …` replaced, when `renames`
/// has it.
fn rename_template(inner: &str, renames: &Renames) -> Option<String> {
    let toks = tokens(inner);
    let mut words = toks
        .iter()
        .enumerate()
        .filter(|(_, t)| t.kind != Kind::Space);
    let (_, first) = words.next()?;
    if first.kind != Kind::Word || first.text != "template" {
        return None;
    }
    let (at, name) = words.next()?;
    if name.kind != Kind::Literal {
        return None;
    }
    let helm_name = renames.get(&unquote(name.text)?)?;
    let offset: usize = toks[..at].iter().map(|t| t.text.len()).sum();
    let quoted = serde_json::Value::String(helm_name.clone()).to_string();
    Some(format!(
        "{}{quoted}{}",
        &inner[..offset],
        &inner[offset + name.text.len()..]
    ))
}

/// The value of a string literal: `"…"` (Go's escapes are JSON's, plus a few
/// a file name never has) or `` `…` ``.
fn unquote(literal: &str) -> Option<String> {
    if let Some(raw) = literal.strip_prefix('`').and_then(|l| l.strip_suffix('`')) {
        return Some(raw.to_owned());
    }
    if literal.starts_with('"') {
        return serde_json::from_str(literal).ok();
    }
    None
}

/// Keywords after which a pipeline starts, so a call there is a command.
const PIPELINE_AFTER: &[&str] = &["if", "with", "range", "else"];

/// Writes `toks`, rewriting the `GetField` calls among them.
fn emit(toks: &[Token], out: &mut String) {
    let mut i = 0;
    while i < toks.len() {
        let t = toks[i];
        let call = t.kind == Kind::Field
            && t.text == ".GetField"
            // `.GetField.X` is not a call we know how to rewrite
            && toks.get(i + 1).is_none_or(|n| n.kind != Kind::Field);
        if !call {
            out.push_str(t.text);
            i += 1;
            continue;
        }
        // the receiver: the chain this link ends (`$`, `$x.A`, `.A`), else the dot
        let mut r = i;
        while r > 0 && matches!(toks[r - 1].kind, Kind::Field | Kind::Variable) {
            r -= 1;
            if toks[r].kind == Kind::Variable {
                break;
            }
        }
        if r > 0 && toks[r - 1].kind == Kind::Close {
            // `(expr).GetField`: left as written
            out.push_str(t.text);
            i += 1;
            continue;
        }
        // the receiver's links were written already: take them back
        let receiver: String = toks[r..i].iter().map(|t| t.text).collect();
        out.truncate(out.len() - receiver.len());
        let receiver = if receiver.is_empty() {
            ".".to_owned()
        } else {
            receiver
        };
        if is_command_head(&toks[..r]) {
            // its arguments run to the end of the command
            let mut depth = 0usize;
            let mut j = i + 1;
            while j < toks.len() {
                match toks[j].kind {
                    Kind::Open => depth += 1,
                    Kind::Close if depth == 0 => break,
                    Kind::Close => depth -= 1,
                    Kind::Pipe if depth == 0 => break,
                    _ => {}
                }
                j += 1;
            }
            // spaces before a pipe or the end stay outside the call
            let mut last = j;
            while last > i + 1 && toks[last - 1].kind == Kind::Space {
                last -= 1;
            }
            out.push_str(&format!("include \"{GET_FIELD}\" (list {receiver}"));
            emit(&toks[i + 1..last], out);
            out.push(')');
            for space in &toks[last..j] {
                out.push_str(space.text);
            }
            i = j;
        } else {
            // an argument: Go calls the method with no fields, which gives ""
            out.push_str(&format!("(include \"{GET_FIELD}\" (list {receiver}))"));
            i += 1;
        }
    }
}

/// Whether what comes before a term makes it the first word of a command.
fn is_command_head(before: &[Token]) -> bool {
    let mut meaningful = before.iter().rev().filter(|t| t.kind != Kind::Space);
    match meaningful.next() {
        None => true,
        Some(t) => match t.kind {
            Kind::Open | Kind::Pipe | Kind::Assign => true,
            Kind::Word => PIPELINE_AFTER.contains(&t.text),
            // `template "name" PIPELINE`, `block "name" PIPELINE`
            Kind::Literal => meaningful
                .next()
                .is_some_and(|w| w.kind == Kind::Word && matches!(w.text, "template" | "block")),
            _ => false,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rw(text: &str) -> String {
        rewrite(text, &Renames::new())
    }

    fn call(receiver: &str, args: &str) -> String {
        format!("include \"{GET_FIELD}\" (list {receiver}{args})")
    }

    #[test]
    fn the_originals_calls() {
        assert_eq!(
            rw("  name: {{ .GetField \"metadata\" \"name\"  }}-configmap\n"),
            format!(
                "  name: {{{{ {}  }}}}-configmap\n",
                call(".", " \"metadata\" \"name\"")
            )
        );
        // `.Name` and the rest of the text are untouched
        let plain = "{{ .Name }}\n{{ template \"x.tmpl\" . }}\n---\n";
        assert_eq!(rw(plain), plain);
    }

    #[test]
    fn a_call_ends_at_a_pipe_or_its_parenthesis() {
        assert_eq!(
            rw("{{ .GetField \"spec\" \"by\" | quote }}"),
            format!("{{{{ {} | quote }}}}", call(".", " \"spec\" \"by\""))
        );
        assert_eq!(
            rw("{{ if eq (.GetField \"spec\" \"a\") \"x\" }}"),
            format!("{{{{ if eq ({}) \"x\" }}}}", call(".", " \"spec\" \"a\""))
        );
        assert_eq!(
            rw("{{- $v := .GetField \"spec\" -}}"),
            format!("{{{{- $v := {} -}}}}", call(".", " \"spec\""))
        );
        assert_eq!(
            rw("{{ with .GetField \"a\" }}"),
            format!("{{{{ with {} }}}}", call(".", " \"a\""))
        );
        assert_eq!(
            rw("{{ template \"t\" .GetField \"a\" }}"),
            format!("{{{{ template \"t\" {} }}}}", call(".", " \"a\""))
        );
    }

    #[test]
    fn receivers_other_than_the_dot() {
        assert_eq!(
            rw("{{ $.GetField \"a\" }}"),
            format!("{{{{ {} }}}}", call("$", " \"a\""))
        );
        assert_eq!(
            rw("{{ $cr.GetField \"a\" }}"),
            format!("{{{{ {} }}}}", call("$cr", " \"a\""))
        );
        assert_eq!(
            rw("{{ (index . 0).GetField \"a\" }}"),
            "{{ (index . 0).GetField \"a\" }}"
        );
    }

    #[test]
    fn as_an_argument_it_is_a_call_without_fields() {
        // Go: `printf "%s" .GetField "a"` calls GetField() and passes "a" on
        assert_eq!(
            rw("{{ printf \"%s%s\" .GetField \"a\" }}"),
            format!("{{{{ printf \"%s%s\" ({}) \"a\" }}}}", call(".", ""))
        );
    }

    #[test]
    fn nested_calls_and_variables_as_fields() {
        assert_eq!(
            rw("{{ .GetField \"spec\" (.GetField \"metadata\" \"name\") }}"),
            format!(
                "{{{{ {} }}}}",
                call(
                    ".",
                    &format!(" \"spec\" ({})", call(".", " \"metadata\" \"name\""))
                )
            )
        );
        assert_eq!(
            rw("{{ .GetField \"spec\" $key }}"),
            format!("{{{{ {} }}}}", call(".", " \"spec\" $key"))
        );
    }

    #[test]
    fn literals_comments_and_trim_markers_are_kept() {
        for text in [
            "{{/* .GetField \"a\" }} */}}",
            "{{- /* a comment with .GetField */ -}}",
            "{{ \"}} .GetField\" }}",
            "{{ `raw }} .GetField` }}",
            "{{ print \".GetField\" }}",
        ] {
            assert_eq!(rw(text), text, "{text}");
        }
        assert_eq!(
            rw("a\n{{- .GetField \"x\" -}}\nb"),
            format!("a\n{{{{- {} -}}}}\nb", call(".", " \"x\""))
        );
    }

    #[test]
    fn line_breaks_never_move() {
        let text =
            "{{ .GetField\n  \"a\"\n  \"b\" }}\nline\n{{ if .GetField \"c\" }}{{ end }}\n{{ oops";
        let out = rw(text);
        assert_eq!(out.matches('\n').count(), text.matches('\n').count());
        // an action left open is passed on for helm to report
        assert!(out.ends_with("{{ oops"));
    }

    #[test]
    fn template_actions_name_files_by_their_chart_path() {
        let renames = Renames::from([("cm.tmpl".to_owned(), "c/templates/_cm.tmpl".to_owned())]);
        assert_eq!(
            rewrite("{{ template \"cm.tmpl\" . }}", &renames),
            "{{ template \"c/templates/_cm.tmpl\" . }}"
        );
        assert_eq!(
            rewrite("{{- template `cm.tmpl` (.GetField \"a\") -}}", &renames),
            format!(
                "{{{{- template \"c/templates/_cm.tmpl\" ({}) -}}}}",
                call(".", " \"a\"")
            )
        );
        // other names, other actions and look-alikes stay as written
        for text in [
            "{{ template \"other\" . }}",
            "{{ include \"cm.tmpl\" . }}",
            "{{ print \"template\" \"cm.tmpl\" }}",
            "{{ template \"cm.tmpl\\\" . }}",
        ] {
            assert_eq!(rewrite(text, &renames), text, "{text}");
        }
    }

    #[test]
    fn hostile_text_does_not_panic() {
        for text in [
            "{{",
            "}}",
            "{{}}",
            "{{-}}",
            "{{- -}}",
            "{{\"",
            "{{'",
            "{{`",
            "{{ \"\\",
            "{{/*",
            "{{/* */",
            "{{ .GetField",
            "{{ .GetField(",
            "{{ .GetField) }}",
            "{{ ).GetField }}",
            "{{ .GetField.GetField \"a\" }}",
            "{{ $.GetField }}",
            "{{ é.GetField ü }}",
            "{{ .GetFieldX }}",
            "{{ ..GetField }}",
            "{{ .GetField | }}",
        ] {
            let _ = rw(text);
            let _ = rewrite(text, &Renames::from([("a".to_owned(), "b".to_owned())]));
        }
        assert_eq!(rw("{{ .GetFieldX }}"), "{{ .GetFieldX }}");
    }
}
