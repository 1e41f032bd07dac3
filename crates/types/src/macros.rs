//! Crate-internal macros.

/// Declares a fieldless enum together with `ALL`, its variants in declaration order. The list is
/// generated from the declaration itself, so it can never miss a variant: a new one is in
/// `ALL`, and in every table built from it, the moment it is declared.
macro_rules! with_all {
    (
        $(#[$meta:meta])*
        $vis:vis enum $name:ident {
            $( $(#[$vmeta:meta])* $variant:ident $(= $value:literal)?, )*
        }
    ) => {
        $(#[$meta])*
        $vis enum $name {
            $( $(#[$vmeta])* $variant $(= $value)?, )*
        }

        impl $name {
            /// Every variant, in declaration order (generated with the enum: none can be missing).
            pub const ALL: [$name; [$(stringify!($variant)),*].len()] = [$($name::$variant),*];
        }
    };
}
