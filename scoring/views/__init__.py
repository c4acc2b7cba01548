"""The Scoring section (/scoring/…), one module per page:

- rules: the rules list (with the threshold, categories and rescore status), the rule
  editor with its impact preview and "test against a lead", delete, the active switch,
  categories
- settings: grade bands and the MQL threshold
- report: rule effectiveness (table, chart, CSV)
- rescore: the progress fragment the pages poll, and "Rescore now"

Reading needs capture.view_lead; changing anything needs leadhub.manage_scoring (others
see the pages without their controls and get a 403 on every write URL). Views stay thin:
reads come from scoring.selectors, writes go through scoring.services.
"""
