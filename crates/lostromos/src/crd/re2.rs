//! Whether the API server reads a `pattern`: it compiles it with Go's
//! regexp (RE2 syntax). Rust's regex reads a superset, and one pattern Go
//! refuses makes the API server refuse the whole CRD; helm, in Go too,
//! cannot use it either. So a pattern is kept only when Rust's regex
//! compiles it and it uses nothing Go lacks.

use regex_syntax::ast::{
    self, Ast, ClassSetItem, ClassUnicode, ClassUnicodeKind, Flag, FlagsItemKind, GroupKind,
    HexLiteralKind, Literal, LiteralKind, RepetitionKind, RepetitionRange, Visitor,
};

/// Go's largest `{n}`.
const MAX_REPEAT: u32 = 1000;

/// Go's Unicode general categories (`\p{Lu}`), less those only recent Go
/// versions have (Cn, LC).
const CATEGORIES: &[&str] = &[
    "C", "Cc", "Cf", "Co", "Cs", "L", "Ll", "Lm", "Lo", "Lt", "Lu", "M", "Mc", "Me", "Mn", "N",
    "Nd", "Nl", "No", "P", "Pc", "Pd", "Pe", "Pf", "Pi", "Po", "Ps", "S", "Sc", "Sk", "Sm", "So",
    "Z", "Zl", "Zp", "Zs",
];

/// Go's Unicode scripts (`\p{Greek}`), Unicode 15.
const SCRIPTS: &[&str] = &[
    "Adlam",
    "Ahom",
    "Anatolian_Hieroglyphs",
    "Arabic",
    "Armenian",
    "Avestan",
    "Balinese",
    "Bamum",
    "Bassa_Vah",
    "Batak",
    "Bengali",
    "Bhaiksuki",
    "Bopomofo",
    "Brahmi",
    "Braille",
    "Buginese",
    "Buhid",
    "Canadian_Aboriginal",
    "Carian",
    "Caucasian_Albanian",
    "Chakma",
    "Cham",
    "Cherokee",
    "Chorasmian",
    "Common",
    "Coptic",
    "Cuneiform",
    "Cypriot",
    "Cypro_Minoan",
    "Cyrillic",
    "Deseret",
    "Devanagari",
    "Dives_Akuru",
    "Dogra",
    "Duployan",
    "Egyptian_Hieroglyphs",
    "Elbasan",
    "Elymaic",
    "Ethiopic",
    "Georgian",
    "Glagolitic",
    "Gothic",
    "Grantha",
    "Greek",
    "Gujarati",
    "Gunjala_Gondi",
    "Gurmukhi",
    "Han",
    "Hangul",
    "Hanifi_Rohingya",
    "Hanunoo",
    "Hatran",
    "Hebrew",
    "Hiragana",
    "Imperial_Aramaic",
    "Inherited",
    "Inscriptional_Pahlavi",
    "Inscriptional_Parthian",
    "Javanese",
    "Kaithi",
    "Kannada",
    "Katakana",
    "Kawi",
    "Kayah_Li",
    "Kharoshthi",
    "Khitan_Small_Script",
    "Khmer",
    "Khojki",
    "Khudawadi",
    "Lao",
    "Latin",
    "Lepcha",
    "Limbu",
    "Linear_A",
    "Linear_B",
    "Lisu",
    "Lycian",
    "Lydian",
    "Mahajani",
    "Makasar",
    "Malayalam",
    "Mandaic",
    "Manichaean",
    "Marchen",
    "Masaram_Gondi",
    "Medefaidrin",
    "Meetei_Mayek",
    "Mende_Kikakui",
    "Meroitic_Cursive",
    "Meroitic_Hieroglyphs",
    "Miao",
    "Modi",
    "Mongolian",
    "Mro",
    "Multani",
    "Myanmar",
    "Nabataean",
    "Nag_Mundari",
    "Nandinagari",
    "New_Tai_Lue",
    "Newa",
    "Nko",
    "Nushu",
    "Nyiakeng_Puachue_Hmong",
    "Ogham",
    "Ol_Chiki",
    "Old_Hungarian",
    "Old_Italic",
    "Old_North_Arabian",
    "Old_Permic",
    "Old_Persian",
    "Old_Sogdian",
    "Old_South_Arabian",
    "Old_Turkic",
    "Old_Uyghur",
    "Oriya",
    "Osage",
    "Osmanya",
    "Pahawh_Hmong",
    "Palmyrene",
    "Pau_Cin_Hau",
    "Phags_Pa",
    "Phoenician",
    "Psalter_Pahlavi",
    "Rejang",
    "Runic",
    "Samaritan",
    "Saurashtra",
    "Sharada",
    "Shavian",
    "Siddham",
    "SignWriting",
    "Sinhala",
    "Sogdian",
    "Sora_Sompeng",
    "Soyombo",
    "Sundanese",
    "Syloti_Nagri",
    "Syriac",
    "Tagalog",
    "Tagbanwa",
    "Tai_Le",
    "Tai_Tham",
    "Tai_Viet",
    "Takri",
    "Tamil",
    "Tangsa",
    "Tangut",
    "Telugu",
    "Thaana",
    "Thai",
    "Tibetan",
    "Tifinagh",
    "Tirhuta",
    "Toto",
    "Ugaritic",
    "Vai",
    "Vithkuqi",
    "Wancho",
    "Warang_Citi",
    "Yezidi",
    "Yi",
    "Zanabazar_Square",
];

/// Why Go's regexp refuses `pattern` (or Rust's cannot check it), or `None`.
pub fn refusal(pattern: &str) -> Option<String> {
    if regex::Regex::new(pattern).is_err() {
        return Some("not RE2 syntax".into());
    }
    match ast::parse::Parser::new().parse(pattern) {
        Ok(tree) => ast::visit(&tree, Go).err(),
        Err(_) => Some("not RE2 syntax".into()),
    }
}

/// Finds the first thing in a syntax tree that Go's regexp lacks.
struct Go;

impl Visitor for Go {
    type Output = ();
    type Err = String;

    fn finish(self) -> Result<(), String> {
        Ok(())
    }

    fn visit_pre(&mut self, tree: &Ast) -> Result<(), String> {
        match tree {
            Ast::Flags(f) => flags(&f.flags),
            Ast::Group(g) => match &g.kind {
                GroupKind::NonCapturing(f) => flags(f),
                _ => Ok(()),
            },
            Ast::Literal(l) => literal(l),
            Ast::ClassUnicode(c) => unicode(c),
            Ast::Repetition(r) => {
                if matches!(*r.ast, Ast::Repetition(_)) {
                    return Err("a repetition of a repetition (`a++`, `a{2}{3}`)".into());
                }
                match r.op.kind {
                    RepetitionKind::Range(
                        RepetitionRange::Exactly(n)
                        | RepetitionRange::AtLeast(n)
                        | RepetitionRange::Bounded(_, n),
                    ) if n > MAX_REPEAT => Err(format!("a count over {MAX_REPEAT}")),
                    _ => Ok(()),
                }
            }
            _ => Ok(()),
        }
    }

    fn visit_class_set_item_pre(&mut self, item: &ClassSetItem) -> Result<(), String> {
        match item {
            ClassSetItem::Literal(l) => literal(l),
            ClassSetItem::Range(r) => literal(&r.start).and_then(|()| literal(&r.end)),
            ClassSetItem::Unicode(c) => unicode(c),
            _ => Ok(()),
        }
    }
}

fn flags(f: &ast::Flags) -> Result<(), String> {
    for item in &f.items {
        let name = match item.kind {
            FlagsItemKind::Flag(Flag::Unicode) => "u",
            FlagsItemKind::Flag(Flag::IgnoreWhitespace) => "x",
            FlagsItemKind::Flag(Flag::CRLF) => "R",
            _ => continue,
        };
        return Err(format!("the flag `{name}`"));
    }
    Ok(())
}

fn literal(l: &Literal) -> Result<(), String> {
    match l.kind {
        LiteralKind::HexFixed(HexLiteralKind::UnicodeShort | HexLiteralKind::UnicodeLong)
        | LiteralKind::HexBrace(HexLiteralKind::UnicodeShort | HexLiteralKind::UnicodeLong) => {
            Err("a `\\u` or `\\U` escape (Go reads `\\x{...}`)".into())
        }
        LiteralKind::Octal => Err("an octal escape".into()),
        _ => Ok(()),
    }
}

fn unicode(c: &ClassUnicode) -> Result<(), String> {
    let known = match &c.kind {
        ClassUnicodeKind::OneLetter(l) => "CLMNPSZ".contains(*l),
        ClassUnicodeKind::Named(n) => {
            n == "Any" || CATEGORIES.contains(&n.as_str()) || SCRIPTS.contains(&n.as_str())
        }
        ClassUnicodeKind::NamedValue { .. } => false,
    };
    if known {
        Ok(())
    } else {
        Err("a Unicode class Go does not know".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_go_reads_and_what_it_refuses() {
        // as the API server (Kubernetes 1.35) answered for each
        for ok in [
            r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$",
            r"^\x{41}\x41$",
            r"^\p{Greek}\pL\p{Lu}\p{Any}$",
            r"(?i:a)(?<n>b)(?P<m>c)(?sU)d+?",
            r"^[[:alpha:]]\/$",
            r"\<word\>",
            r"^a{1000}$",
        ] {
            assert_eq!(refusal(ok), None, "{ok}");
        }
        for bad in [
            r"^[^\u0000-\u001F]*$",
            r"^\U00000041$",
            r"(?x)^a b$",
            r"(?u)^\w+$",
            r"(?-u:\w)",
            r"(?R)^a$",
            r"a++",
            r"^a{2}{3}$",
            r"^a{1001}$",
            r"^\p{Alphabetic}$",
            r"^\p{sc=Greek}$",
            // Go reads `{,3}` as text: Rust's regex cannot check it like Go
            r"^a{,3}$",
        ] {
            assert!(refusal(bad).is_some(), "{bad}");
        }
    }
}
