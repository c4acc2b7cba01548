"""nurture's pages for marketers (/nurture/…): sequences, their editor and enrollments,
sending settings and the suppression list. Anyone who reads leads may look; changing
anything takes leadhub.manage_nurture (views.common)."""
