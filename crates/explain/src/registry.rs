//! The registry of built-in methods: one line per method declares its module, re-exports its
//! type and gives it its one name — the peer's name in kebab-case, the same on the command
//! line, in serde and in the docs — and a place in the `Any…` enum that holds any of them by
//! value (so the main job, the reports, the benchmark and the backend parity suite find it).

/// `registry! { /// docs  pub enum AnyX: dyn Trait, "what" { module::Type => "name", … }
/// /// docs  wrapper Variant(Type) => "name"; [apply builder(arg: Type);] }`: declares
/// `mod module; pub use module::Type;` for each line and the enum of all of them, with one
/// wrapper variant (a method around another: SmoothGrad, several layers), and optionally a
/// builder every method has, forwarded.
macro_rules! registry {
    // With a builder every method has (`with_settings` of the CAMs): the enum forwards it.
    (
        $(#[$attr:meta])*
        pub enum $any:ident: dyn $trait:ident, $what:literal {
            $($module:ident::$variant:ident => $name:literal,)*
        }
        $(#[$wrapper_attr:meta])*
        wrapper $wrapper:ident($wrapped:ty) => $wrapper_name:literal;
        apply $method:ident($arg:ident: $ty:ty);
    ) => {
        registry! {
            $(#[$attr])*
            pub enum $any: dyn $trait, $what {
                $($module::$variant => $name,)*
            }
            $(#[$wrapper_attr])*
            wrapper $wrapper($wrapped) => $wrapper_name;
        }

        impl $any {
            #[doc = concat!("The same method with another `", stringify!($arg), "` (each method's own `", stringify!($method), "`).")]
            pub fn $method(self, $arg: $ty) -> Self {
                match self {
                    $(Self::$variant(method) => Self::$variant(method.$method($arg)),)*
                    Self::$wrapper(method) => Self::$wrapper(Box::new(method.$method($arg))),
                }
            }
        }
    };
    (
        $(#[$attr:meta])*
        pub enum $any:ident: dyn $trait:ident, $what:literal {
            $($module:ident::$variant:ident => $name:literal,)*
        }
        $(#[$wrapper_attr:meta])*
        wrapper $wrapper:ident($wrapped:ty) => $wrapper_name:literal;
    ) => {
        $(
            mod $module;
            pub use $module::$variant;
        )*

        $(#[$attr])*
        #[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
        pub enum $any {
            $(
                #[doc = concat!("[`", stringify!($variant), "`] (`", $name, "`).")]
                #[serde(rename = $name)]
                $variant($variant),
            )*
            $(#[$wrapper_attr])*
            #[serde(rename = $wrapper_name)]
            $wrapper(Box<$wrapped>),
        }

        impl $any {
            /// Every registered method's name, in registration order.
            pub const NAMES: &'static [&'static str] = &[$($name),*];

            /// Every registered method with its default settings, in registration order.
            pub fn all() -> Vec<Self> {
                vec![$(Self::$variant(<$variant as Default>::default())),*]
            }

            /// The method named `name` (one of [`Self::NAMES`]) with its default settings.
            pub fn from_name(name: &str) -> Result<Self, $crate::UnknownName> {
                $crate::UnknownName::find(name, &Self::all(), Self::name, $what)
            }

            /// The method's name.
            pub fn name(&self) -> &'static str {
                match self {
                    $(Self::$variant(_) => $name,)*
                    Self::$wrapper(_) => $wrapper_name,
                }
            }

            fn inner(&self) -> &dyn $trait {
                match self {
                    $(Self::$variant(method) => method,)*
                    Self::$wrapper(method) => method.as_ref(),
                }
            }
        }

        $(
            impl From<$variant> for $any {
                fn from(method: $variant) -> Self {
                    Self::$variant(method)
                }
            }
        )*

        impl std::fmt::Display for $any {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.name())
            }
        }

        impl std::str::FromStr for $any {
            type Err = $crate::UnknownName;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::from_name(s)
            }
        }
    };
}
