"""The back office's shell: the staff home (cards of what needs a person today) and the grouped
menu, on the admin site every app registers with (`StaffAdminSite`, made the default site by
`StaffAdminConfig`). It reads each app only through its selectors; docs/operations.md,
"Staff home"."""
