//! One sync of one tenant: fetch users, groups and spaces from Confluence and
//! stream them, as Baton objects, into a c1z writer.
