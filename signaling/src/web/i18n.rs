//! The pages' languages (POL-6): one Fluent catalogue per language under
//! `signaling/locales/`, built into the binary. Another language of POL-6
//! is a translation job: its `.ftl` file and one line in [`CATALOGUES`].
//! A message missing from a catalogue falls back to English.

use std::sync::LazyLock;

use fluent_bundle::concurrent::FluentBundle;
use fluent_bundle::{FluentArgs, FluentResource, FluentValue};

/// Code, name in its own language, catalogue text.
pub const CATALOGUES: &[(&str, &str, &str)] = &[
    ("en", "English", include_str!("../../locales/en.ftl")),
    ("fr", "Français", include_str!("../../locales/fr.ftl")),
];

/// A language of [`CATALOGUES`] (by index; 0 is English, the fallback).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Lang(usize);

impl Lang {
    /// English.
    pub const EN: Lang = Lang(0);

    /// Every language.
    pub fn all() -> impl Iterator<Item = Lang> {
        (0..CATALOGUES.len()).map(Lang)
    }
    /// `en`, `fr`, ...
    pub fn code(self) -> &'static str {
        CATALOGUES[self.0].0
    }
    /// The language's own name.
    pub fn native_name(self) -> &'static str {
        CATALOGUES[self.0].1
    }
    /// From a code (`fr`, `fr-CA`, `FR`); unknown codes give None.
    pub fn parse(s: &str) -> Option<Lang> {
        let primary = s.split(['-', '_']).next()?.trim().to_ascii_lowercase();
        CATALOGUES
            .iter()
            .position(|(code, _, _)| *code == primary)
            .map(Lang)
    }
    /// The first language of an `Accept-Language` header we have.
    pub fn from_accept(header: &str) -> Option<Lang> {
        header
            .split(',')
            .filter_map(|part| part.split(';').next())
            .find_map(Lang::parse)
    }
}

struct Bundles(Vec<FluentBundle<FluentResource>>);

impl std::fmt::Debug for Bundles {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Bundles")
    }
}

static BUNDLES: LazyLock<Bundles> = LazyLock::new(|| {
    Bundles(
        CATALOGUES
            .iter()
            .map(|(code, _, text)| {
                let id = code.parse().unwrap_or_default();
                let mut bundle = FluentBundle::new_concurrent(vec![id]);
                // No bidi isolation marks: they would land in form values.
                bundle.set_use_isolating(false);
                // A syntax error drops only the entries it touches; the
                // completeness test catches it.
                let res = FluentResource::try_new((*text).to_owned()).unwrap_or_else(|(r, _)| r);
                let _ = bundle.add_resource(res);
                bundle
            })
            .collect(),
    )
});

/// Messages of one language.
#[derive(Debug, Clone, Copy, Default)]
pub struct Tr {
    /// The language.
    pub lang: Lang,
}

impl Tr {
    /// For a language.
    pub fn new(lang: Lang) -> Self {
        Self { lang }
    }

    fn format(&self, id: &str, args: Option<&FluentArgs<'_>>) -> String {
        for bundle in [self.lang.0, 0].iter().filter_map(|i| BUNDLES.0.get(*i)) {
            if let Some(pattern) = bundle.get_message(id).and_then(|m| m.value()) {
                let mut errors = Vec::new();
                return bundle
                    .format_pattern(pattern, args, &mut errors)
                    .into_owned();
            }
        }
        id.to_owned()
    }

    /// The message `id`.
    pub fn t(&self, id: &str) -> String {
        self.format(id, None)
    }

    /// The message `id` with one argument.
    pub fn t1(&self, id: &str, name: &str, value: impl ToString) -> String {
        let mut args = FluentArgs::new();
        args.set(name, FluentValue::from(value.to_string()));
        self.format(id, Some(&args))
    }

    /// Whether the catalogues know `id`.
    pub fn has(&self, id: &str) -> bool {
        BUNDLES
            .0
            .iter()
            .any(|b| b.get_message(id).is_some_and(|m| m.value().is_some()))
    }

    /// An API error for people: the catalogue's text for its code when
    /// there is one, else the API's own message.
    pub fn error(&self, e: &crate::error::ApiError) -> String {
        let id = format!("error-{}", e.code.replace('_', "-"));
        if self.has(&id) {
            self.t(&id)
        } else {
            e.message.clone()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(text: &str) -> Vec<String> {
        text.lines()
            .filter(|l| {
                l.chars()
                    .next()
                    .is_some_and(|c| c.is_ascii_lowercase() && l.contains(" ="))
            })
            .filter_map(|l| l.split(" =").next().map(str::to_owned))
            .collect()
    }

    #[test]
    fn every_catalogue_parses_and_has_every_english_message() {
        let english = ids(CATALOGUES[0].2);
        assert!(english.len() > 50, "{}", english.len());
        for (code, _, text) in CATALOGUES {
            assert!(
                FluentResource::try_new((*text).to_owned()).is_ok(),
                "{code}.ftl does not parse"
            );
            let own = ids(text);
            let missing: Vec<_> = english.iter().filter(|id| !own.contains(id)).collect();
            assert!(missing.is_empty(), "{code}.ftl lacks {missing:?}");
        }
    }

    #[test]
    fn languages_parse_and_fall_back() {
        assert_eq!(Lang::parse("fr-CA").map(Lang::code), Some("fr"));
        assert_eq!(Lang::parse("de"), None);
        assert_eq!(
            Lang::from_accept("de-DE,fr;q=0.8,en;q=0.5").map(Lang::code),
            Some("fr")
        );
        let fr = Tr::new(Lang::parse("fr").unwrap_or_default());
        assert_eq!(fr.t("nav-logout"), "Déconnexion");
        assert_eq!(fr.t("no-such-message"), "no-such-message");
    }
}
