//! Text folding shared by the address index and the queries: accents, case,
//! punctuation, French street-name abbreviations and articles.
//!
//! Both sides of a comparison go through the same functions, so an
//! abbreviation is understood in either direction (`bd` in the query and
//! `Boulevard` in the BAN, or the reverse in the AFNOR form).

use unicode_normalization::UnicodeNormalization;
use unicode_normalization::char::is_combining_mark;

/// A folded token of a text, with whether a hard separator (`,` `;` `/` `(`
/// `)` …) came before it. Hyphens and apostrophes are soft: they occur inside
/// street names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Token {
    pub(crate) text: String,
    pub(crate) break_before: bool,
    /// Digits that were written as words (`Quatre`, `Dix-Huit`): part of a
    /// name, never a house number.
    pub(crate) from_words: bool,
    /// Written against the previous token, without a separator (the `D` of `9D`).
    pub(crate) glued: bool,
}

impl Token {
    pub(crate) fn is_digits(&self) -> bool {
        !self.text.is_empty() && self.text.bytes().all(|b| b.is_ascii_digit())
    }
}

/// Splits `s` into lower-case, accent-free alphanumeric tokens. A run of
/// digits and a run of letters are separate tokens, so `28B`, `55bis` and
/// `19e` read as `28 b`, `55 bis` and `19 e`.
pub(crate) fn tokenize(s: &str) -> Vec<Token> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut cur_digit = false;
    let mut pending_break = false;
    let mut glued = false;
    let flush = |cur: &mut String, out: &mut Vec<Token>, pending_break: &mut bool, glued: bool| {
        if !cur.is_empty() {
            out.push(Token {
                text: std::mem::take(cur),
                break_before: *pending_break,
                from_words: false,
                glued,
            });
            *pending_break = false;
        }
    };
    for c in s.nfd() {
        if is_combining_mark(c) {
            continue;
        }
        let folded: &str = match c {
            'œ' | 'Œ' => "oe",
            'æ' | 'Æ' => "ae",
            'ß' => "ss",
            _ => "",
        };
        if !folded.is_empty() {
            if cur_digit {
                flush(&mut cur, &mut out, &mut pending_break, glued);
                glued = true;
            } else if cur.is_empty() {
                glued = false;
            }
            cur.push_str(folded);
            cur_digit = false;
            continue;
        }
        if c.is_alphanumeric() {
            let digit = c.is_ascii_digit();
            if !cur.is_empty() && digit != cur_digit {
                flush(&mut cur, &mut out, &mut pending_break, glued);
                glued = true;
            } else if cur.is_empty() {
                glued = false;
            }
            cur_digit = digit;
            cur.extend(c.to_lowercase());
        } else {
            flush(&mut cur, &mut out, &mut pending_break, glued);
            glued = false;
            if matches!(
                c,
                ',' | ';' | '/' | '(' | ')' | '[' | ']' | '|' | '\n' | '\r' | '\t' | '+' | '&'
            ) {
                pending_break = true;
            }
        }
    }
    flush(&mut cur, &mut out, &mut pending_break, glued);
    merge_number_words(out)
}

/// Value of a French number word, or of a Roman numeral (`II`…`XXXIX`).
fn number_word(s: &str) -> Option<u32> {
    Some(match s {
        "deux" => 2,
        "trois" => 3,
        "quatre" => 4,
        "cinq" => 5,
        "six" => 6,
        "sept" => 7,
        "huit" => 8,
        "neuf" => 9,
        "dix" => 10,
        "onze" => 11,
        "douze" => 12,
        "treize" => 13,
        "quatorze" => 14,
        "quinze" => 15,
        "seize" => 16,
        "vingt" | "vingts" => 20,
        "trente" => 30,
        "quarante" => 40,
        "cinquante" => 50,
        "soixante" => 60,
        "ier" | "premier" | "premiere" => 1,
        "deuxieme" | "second" | "seconde" => 2,
        "troisieme" => 3,
        "quatrieme" => 4,
        "cinquieme" => 5,
        "sixieme" => 6,
        "septieme" => 7,
        "huitieme" => 8,
        "neuvieme" => 9,
        "dixieme" => 10,
        _ => return roman(s),
    })
}

/// A Roman numeral of two letters or more made of I, V, X (`II`, `XXIII`).
fn roman(s: &str) -> Option<u32> {
    if s.len() < 2 || !s.bytes().all(|b| matches!(b, b'i' | b'v' | b'x')) {
        return None;
    }
    let value = |b: u8| match b {
        b'i' => 1,
        b'v' => 5,
        _ => 10,
    };
    let bytes = s.as_bytes();
    let mut total = 0i32;
    for (i, &b) in bytes.iter().enumerate() {
        let v = value(b);
        if bytes.get(i + 1).is_some_and(|&n| value(n) > v) {
            total -= v;
        } else {
            total += v;
        }
    }
    let total = u32::try_from(total)
        .ok()
        .filter(|&t| (1..40).contains(&t))?;
    // Only canonical spellings (rejects "iiii", "vx" …).
    let canonical = ["", "i", "ii", "iii", "iv", "v", "vi", "vii", "viii", "ix"];
    let tens = ["", "x", "xx", "xxx"];
    let spelled = format!(
        "{}{}",
        tens[(total / 10) as usize],
        canonical[(total % 10) as usize]
    );
    (spelled == s).then_some(total)
}

/// Writes numbers spelled in words as digits, so `Place du Vingt-Cinq Août
/// 1944` and `Place du 25 Août 1944`, `Rue François Ier` and `Rue François
/// 1er`, `Cours du Septième Art` and `Cours du 7ème Art` fold alike. The
/// ordinal ending after a number (`er`, `ème`) is dropped; a lone `e` is kept
/// (`19e` may be an arrondissement).
fn merge_number_words(tokens: Vec<Token>) -> Vec<Token> {
    let mut out: Vec<Token> = Vec::with_capacity(tokens.len());
    let mut i = 0;
    while i < tokens.len() {
        let t = &tokens[i];
        if matches!(t.text.as_str(), "er" | "ere" | "eme" | "ieme" | "re")
            && out
                .last()
                .is_some_and(|p| p.text.bytes().all(|b| b.is_ascii_digit()))
        {
            i += 1;
            continue;
        }
        let Some(mut value) = number_word(&t.text) else {
            out.push(t.clone());
            i += 1;
            continue;
        };
        let next = |k: usize| {
            tokens
                .get(k)
                .filter(|u| !u.break_before)
                .and_then(|u| number_word(&u.text))
        };
        let mut len = 1;
        // quatre-vingt(s)
        if value == 4 && next(i + 1) == Some(20) {
            value = 80;
            len = 2;
        }
        match (value, next(i + len)) {
            (20 | 30 | 40 | 50 | 60 | 80, Some(u @ 1..=9)) => {
                value += u;
                len += 1;
            }
            (60 | 80, Some(u @ 10..=19)) => {
                value += u;
                len += 1;
            }
            (10, Some(u @ 7..=9)) => {
                value += u;
                len += 1;
            }
            _ => {}
        }
        out.push(Token {
            text: value.to_string(),
            break_before: t.break_before,
            from_words: true,
            glued: false,
        });
        i += len;
    }
    out
}

/// The full form of a street-name abbreviation (common usage and AFNOR),
/// or the token itself.
pub(crate) fn canonical(token: &str) -> &str {
    match token {
        "bd" | "bld" | "blvd" | "bvd" | "boul" | "boulv" => "boulevard",
        "av" | "ave" | "aven" | "avn" => "avenue",
        "pl" | "plc" => "place",
        "r" => "rue",
        "fg" | "fbg" | "faub" | "fbourg" => "faubourg",
        "st" => "saint",
        "ste" => "sainte",
        "qu" | "qai" => "quai",
        "imp" => "impasse",
        "sq" | "squ" => "square",
        "pass" | "pas" | "psg" => "passage",
        "all" => "allee",
        "crs" => "cours",
        "rte" => "route",
        "ch" | "chem" => "chemin",
        "gal" | "gen" | "gl" | "gnl" => "general",
        "mal" | "marech" => "marechal",
        "pdt" | "pres" | "presid" => "president",
        "prom" => "promenade",
        "carr" => "carrefour",
        "espl" | "esp" => "esplanade",
        "vla" => "villa",
        "sent" => "sentier",
        "rpt" => "rondpoint",
        "dr" | "doct" => "docteur",
        "pr" | "prof" => "professeur",
        "lt" | "lieut" => "lieutenant",
        "cdt" | "cmdt" => "commandant",
        "cne" | "capit" => "capitaine",
        "col" => "colonel",
        "mgr" => "monseigneur",
        "gde" => "grande",
        "gd" => "grand",
        "nd" => "notredame",
        "pte" => "porte",
        "hab" => "habitation",
        "res" => "residence",
        "ham" => "hameau",
        "pvs" => "parvis",
        _ => token,
    }
}

/// Articles and prepositions that carry no meaning in a street name: they are
/// left out of keys, so `rue Épinettes` finds `Rue des Épinettes`.
pub(crate) fn is_stop_word(canonical: &str) -> bool {
    matches!(
        canonical,
        "de" | "du" | "des" | "d" | "la" | "le" | "les" | "l" | "au" | "aux"
    )
}

/// Words that open a street name as its type (`Rue`, `Avenue` …).
pub(crate) fn is_street_type(canonical: &str) -> bool {
    matches!(
        canonical,
        "rue"
            | "avenue"
            | "boulevard"
            | "place"
            | "passage"
            | "villa"
            | "impasse"
            | "square"
            | "cite"
            | "allee"
            | "route"
            | "quai"
            | "cour"
            | "cours"
            | "port"
            | "pont"
            | "galerie"
            | "esplanade"
            | "carrefour"
            | "chemin"
            | "hameau"
            | "parvis"
            | "ruelle"
            | "sentier"
            | "sente"
            | "peristyle"
            | "terrasse"
            | "passerelle"
            | "promenade"
            | "souterrain"
            | "voie"
            | "rondpoint"
    )
}

/// Street types that name an open space rather than a line of buildings
/// (`Place`, `Rond-point`, `Carrefour`, `Parvis`): their numbers run around
/// the space, and someone who names one without a number, or with a number it
/// does not have, stands in it.
pub(crate) fn is_open_space_type(canonical: &str) -> bool {
    matches!(canonical, "place" | "rondpoint" | "carrefour" | "parvis")
}

/// Words of a query that say "Paris" rather than name a street (they may
/// still be part of one, e.g. `Avenue de France`, so they are soft noise).
pub(crate) fn is_city_noise(canonical: &str) -> bool {
    matches!(canonical, "paris" | "france" | "cedex")
}

/// Words that say where along or around an address a resident stands (`en
/// face du 12`, `au niveau du 3`, `à l'angle de la rue X et de la rue Y`,
/// `devant le 5`): soft noise like "Paris" (a name may still contain one, as
/// `Route de la Muette à Neuilly` does), never unexplained words of a name.
pub(crate) fn is_locator_word(canonical: &str) -> bool {
    matches!(
        canonical,
        "a" | "en"
            | "face"
            | "niveau"
            | "devant"
            | "derriere"
            | "angle"
            | "coin"
            | "cote"
            | "pres"
            | "proche"
            | "hauteur"
            | "croisement"
            | "intersection"
            | "vis"
            | "entre"
    )
}

/// Words that announce a house number (`n° 12`, `numéro 12`).
pub(crate) fn is_number_sign(canonical: &str) -> bool {
    matches!(canonical, "n" | "no" | "num" | "numero")
}

/// The words of a street name as written, articles included, folded and
/// with abbreviations expanded: `Port de l'Hôtel de Ville` → `port de l hotel
/// de ville`. A name cut short (`Port de l`) is a prefix of this text.
pub(crate) fn folded_text(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for t in tokenize(name) {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(canonical(&t.text));
    }
    out
}

/// A street name folded for matching: canonical tokens without articles.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FoldedName {
    pub(crate) tokens: Vec<String>,
    /// How many leading tokens are the street type (0, 1, or 2 for `Rond-point`).
    pub(crate) type_len: usize,
}

impl FoldedName {
    pub(crate) fn new(name: &str) -> Self {
        let mut tokens: Vec<String> = Vec::new();
        for t in tokenize(name) {
            let c = canonical(&t.text);
            if !is_stop_word(c) {
                tokens.push(c.to_owned());
            }
        }
        // "Rond-point" is two tokens; fold it into one type word.
        if tokens.len() >= 2 && tokens[0] == "rond" && tokens[1] == "point" {
            tokens.splice(0..2, ["rondpoint".to_owned()]);
        }
        let mut type_len = usize::from(tokens.first().is_some_and(|t| is_street_type(t)));
        // "Grande avenue …", "Petite rue …"
        if type_len == 0
            && tokens.len() >= 2
            && matches!(tokens[0].as_str(), "grande" | "petite" | "grand" | "petit")
            && is_street_type(&tokens[1])
        {
            type_len = 2;
        }
        Self { tokens, type_len }
    }

    /// All tokens run together: `rue de la Lune` → `ruelune`. Joined and split
    /// spellings (`Vertbois` / `Vert Bois`) give the same key.
    pub(crate) fn key(&self) -> String {
        self.tokens.concat()
    }

    /// The type and the last word, for names of at least two words after
    /// the type whose last word is not a number: `ruebellefond`.
    pub(crate) fn short_key(&self) -> Option<String> {
        let last = self.tokens.last()?;
        if self.type_len == 0
            || self.tokens.len() < self.type_len + 2
            || last.bytes().all(|b| b.is_ascii_digit())
        {
            return None;
        }
        Some(format!("{}{last}", self.tokens[..self.type_len].concat()))
    }

    /// The key without the street type: `lune`.
    pub(crate) fn key_without_type(&self) -> String {
        self.tokens[self.type_len..].concat()
    }

    /// Whether the name is that of an open space (`Place de la Nation`).
    pub(crate) fn is_open_space(&self) -> bool {
        self.type_len == 1 && is_open_space_type(&self.tokens[0])
    }
}

/// Optimal-string-alignment distance, stopping early above `max`.
pub(crate) fn edit_distance_at_most(a: &str, b: &str, max: usize) -> Option<usize> {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    if a.len().abs_diff(b.len()) > max {
        return None;
    }
    let n = b.len();
    let mut prev2 = vec![0usize; n + 1];
    let mut prev: Vec<usize> = (0..=n).collect();
    let mut cur = vec![0usize; n + 1];
    for i in 1..=a.len() {
        cur[0] = i;
        let mut row_min = cur[0];
        for j in 1..=n {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut v = (prev[j] + 1).min(cur[j - 1] + 1).min(prev[j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                v = v.min(prev2[j - 2] + 1);
            }
            cur[j] = v;
            row_min = row_min.min(v);
        }
        if row_min > max {
            return None;
        }
        std::mem::swap(&mut prev2, &mut prev);
        std::mem::swap(&mut prev, &mut cur);
    }
    Some(prev[n]).filter(|&d| d <= max)
}

/// Every string made by deleting one character of `s` (for a SymSpell index).
pub(crate) fn single_deletions(s: &str) -> impl Iterator<Item = String> + '_ {
    s.char_indices().map(move |(i, c)| {
        let mut d = String::with_capacity(s.len());
        d.push_str(&s[..i]);
        d.push_str(&s[i + c.len_utf8()..]);
        d
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_in_words_and_roman_numerals_read_as_digits() {
        assert_eq!(
            texts("Place du Vingt-Cinq Août 1944"),
            ["place", "du", "25", "aout", "1944"]
        );
        assert_eq!(
            texts("Rue du Quatre-Septembre"),
            ["rue", "du", "4", "septembre"]
        );
        assert_eq!(
            texts("Place du Dix-Huit Juin"),
            ["place", "du", "18", "juin"]
        );
        assert_eq!(texts("quatre-vingt-douze"), ["92"]);
        assert_eq!(texts("Rue François Ier"), texts("Rue François 1er"));
        assert_eq!(texts("Cours du Septième Art"), texts("Cours du 7ème art"));
        assert_eq!(
            texts("Boulevard Napoléon III"),
            ["boulevard", "napoleon", "3"]
        );
        assert_eq!(texts("Rue Jean XXIII"), ["rue", "jean", "23"]);
        // Single letters stay letters (initials, suffixes).
        assert_eq!(texts("12 V Rue X"), ["12", "v", "rue", "x"]);
        assert_eq!(texts("iiii vx"), ["iiii", "vx"]);
    }

    fn texts(s: &str) -> Vec<String> {
        tokenize(s).into_iter().map(|t| t.text).collect()
    }

    #[test]
    fn folding_drops_accents_case_and_punctuation() {
        assert_eq!(
            texts("Place de l'Hôtel-de-Ville"),
            ["place", "de", "l", "hotel", "de", "ville"]
        );
        assert_eq!(texts("l' Hotel"), texts("L'HÔTEL"));
        assert_eq!(texts("Œuvre  Cœur"), ["oeuvre", "coeur"]);
    }

    #[test]
    fn digits_and_letters_are_split_so_suffixes_stand_alone() {
        assert_eq!(texts("28B"), ["28", "b"]);
        assert_eq!(texts("55bis Rue"), ["55", "bis", "rue"]);
        assert_eq!(texts("19e"), ["19", "e"]);
    }

    #[test]
    fn a_letter_written_against_a_number_is_marked_as_glued() {
        let glued: Vec<bool> = tokenize("9D Rue d'Artois")
            .iter()
            .map(|t| t.glued)
            .collect();
        assert_eq!(glued, [false, true, false, false, false]);
    }

    #[test]
    fn hard_separators_are_flagged_and_hyphens_are_not() {
        let t = tokenize("208, Rue Saint-Denis / Rue X");
        let flags: Vec<bool> = t.iter().map(|t| t.break_before).collect();
        assert_eq!(flags, [false, true, false, false, true, false]);
    }

    #[test]
    fn abbreviations_and_full_forms_fold_to_the_same_key() {
        for (a, b) in [
            ("Bd Saint-Germain", "boulevard St Germain"),
            ("AV DU GEN LECLERC", "Avenue du Général Leclerc"),
            ("Rue du Fg Saint-Antoine", "r. du Faubourg St-Antoine"),
            ("Pl. de l' Hotel de Ville", "Place de l'Hôtel de Ville"),
            ("Rue Vert Bois", "Rue du Vertbois"),
            ("Imp. Ste Marthe", "Impasse Sainte-Marthe"),
            ("Rond-point des Champs Elysées", "RPT DES CHAMPS ELYSEES"),
        ] {
            assert_eq!(
                FoldedName::new(a).key(),
                FoldedName::new(b).key(),
                "{a} / {b}"
            );
        }
    }

    #[test]
    fn the_street_type_can_be_left_out_of_the_key() {
        let n = FoldedName::new("Rue Notre-Dame-de-Lorette");
        assert_eq!(n.key_without_type(), "notredamelorette");
        assert_eq!(
            FoldedName::new("Grande avenue de la Villa de la Réunion").key_without_type(),
            "villareunion"
        );
    }

    #[test]
    fn edit_distance_counts_a_transposition_as_one() {
        assert_eq!(
            edit_distance_at_most("menilmontant", "menilmotnant", 1),
            Some(1)
        );
        assert_eq!(edit_distance_at_most("peclet", "peclte", 1), Some(1));
        assert_eq!(edit_distance_at_most("abcd", "xbcy", 1), None);
        assert_eq!(
            single_deletions("abc").collect::<Vec<_>>(),
            ["bc", "ac", "ab"]
        );
    }
}
