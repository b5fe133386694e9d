//! The fixed sets of words some fields take (statuses, directions, levels…). Each enum is
//! the one source of its words: the schema checks stored values against `ALL`.

use std::fmt;
use std::str::FromStr;

/// A word that is not one of an enum's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{word:?} is not one of: {expected}")]
pub struct UnknownChoice {
    /// The word given.
    pub word: String,
    /// The words accepted.
    pub expected: String,
}

macro_rules! choice {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name {
            $($(#[$vmeta])* $variant),+
        }

        impl $name {
            /// Every word, in order.
            pub const ALL: &'static [&'static str] = &[$($text),+];

            /// The stored word.
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = UnknownChoice;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($text => Ok($name::$variant),)+
                    _ => Err(UnknownChoice { word: s.chars().take(40).collect(), expected: Self::ALL.join(", ") }),
                }
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                String::deserialize(d)?.parse().map_err(serde::de::Error::custom)
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }
    };
}

choice!(
    /// Where a project stands.
    ProjectStatus { Idea = "idea", Applying = "applying", Approved = "approved", Ongoing = "ongoing", Closed = "closed", Suspended = "suspended" }
);
choice!(
    /// A logframe result's level.
    Level { Impact = "impact", Outcome = "outcome", Output = "output", Activity = "activity" }
);
choice!(
    /// Where a co-financing request stands.
    CofinancingStatus { Requested = "requested", Granted = "granted", Received = "received" }
);
choice!(
    /// Which way a mission travels.
    Direction { LilleToOujda = "lille_to_oujda", OujdaToLille = "oujda_to_lille" }
);
choice!(
    /// Where a mission stands.
    MissionStatus { Draft = "draft", Planned = "planned", Confirmed = "confirmed", Done = "done", Cancelled = "cancelled" }
);
choice!(
    /// A delegate's visa.
    VisaStatus { NotNeeded = "not_needed", ToApply = "to_apply", Applied = "applied", Granted = "granted", Refused = "refused" }
);
choice!(
    /// What a logistics line is.
    LogisticsKind { Flight = "flight", Hotel = "hotel", Vehicle = "vehicle", Interpreter = "interpreter", PerDiem = "per_diem" }
);
choice!(
    /// Where a logistics line stands.
    LogisticsStatus { ToBook = "to_book", Booked = "booked", Paid = "paid", Cancelled = "cancelled" }
);
choice!(
    /// Where a follow-up action stands.
    ActionStatus { Open = "open", Done = "done", Dropped = "dropped" }
);
choice!(
    /// A person or an organisation.
    ActorKind { Person = "person", Organisation = "organisation" }
);
choice!(
    /// What kind of stakeholder.
    ActorCategory {
        Commune = "commune", Wilaya = "wilaya", University = "university", Association = "association",
        Business = "business", Funder = "funder", Media = "media", Training = "training",
        Cultural = "cultural", Institution = "institution", Other = "other",
    }
);
choice!(
    /// On what basis the directory keeps a record about a person (GDPR art. 6, Moroccan
    /// law 09-08).
    LegalBasis { Consent = "consent", LegitimateInterest = "legitimate_interest", PublicRole = "public_role", Contract = "contract" }
);
choice!(
    /// How to reach an actor.
    ContactKind { Email = "email", Phone = "phone", Address = "address", Web = "web", Other = "other" }
);
choice!(
    /// Where a call for proposals stands for us.
    CallStatus { Watching = "watching", Go = "go", Drafting = "drafting", Submitted = "submitted", Won = "won", Lost = "lost", Withdrawn = "withdrawn" }
);
choice!(
    /// A news item's language.
    NewsLanguage { Fr = "fr", Ar = "ar", En = "en", Other = "other" }
);
choice!(
    /// How much a news item matters to the programme.
    Relevance { Low = "low", Medium = "medium", High = "high" }
);
