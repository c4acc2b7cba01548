"""Words the demo leads are made of: a fictional B2B company, Brightwave, selling revenue
analytics, and the people and companies who find it."""

SITE = "https://www.brightwave.example"
SITE_NAME = "Brightwave"

FIRST_NAMES = [
    "Olivia", "Liam", "Emma", "Noah", "Ava", "Lucas", "Sofia", "Mateo", "Isabella", "Elias",
    "Mia", "Leon", "Charlotte", "Hugo", "Amelia", "Finn", "Harper", "Oscar", "Chloe", "Arjun",
    "Priya", "Wei", "Mei", "Hiroshi", "Yuki", "Kwame", "Amara", "Chidi", "Fatima", "Omar",
    "Layla", "Youssef", "Sara", "Lars", "Ingrid", "Sven", "Astrid", "Pierre", "Camille",
    "Luca", "Giulia", "Diego", "Valentina", "Rafael", "Beatriz", "Siobhan", "Connor", "Aoife",
    "Jakub", "Zofia", "Anders", "Freya", "Ethan", "Grace", "Daniel", "Nora", "Samuel", "Ella",
    "Tomás", "Lucía",
]
LAST_NAMES = [
    "Smith", "Johnson", "Williams", "Brown", "Garcia", "Miller", "Davis", "Martinez", "Lopez",
    "Wilson", "Anderson", "Taylor", "Moore", "Jackson", "Lee", "Walker", "Young", "King",
    "Wright", "Scott", "Nguyen", "Chen", "Wang", "Kim", "Patel", "Shah", "Gupta", "Tanaka",
    "Sato", "Müller", "Schmidt", "Schneider", "Fischer", "Weber", "Dubois", "Laurent",
    "Moreau", "Rossi", "Russo", "Bianchi", "Fernández", "González", "Silva", "Santos",
    "Oliveira", "Murphy", "O'Brien", "Kelly", "Johansson", "Lindqvist", "Nielsen", "Jensen",
    "Kowalski", "Nowak", "Okafor", "Mensah", "Haddad", "Cohen", "van Dijk", "de Vries",
]

# First and second halves of company names; the suffix comes from the industry.
COMPANY_STEMS = [
    "North", "Blue", "Bright", "Silver", "Iron", "Cedar", "Harbor", "Summit", "Pine", "Red",
    "Clear", "Stone", "Golden", "River", "Oak", "True", "Swift", "Open", "Atlas", "Polar",
    "Copper", "Maple", "Lumen", "Nova", "Vector", "Granite", "Orbit", "Willow", "Falcon",
    "Beacon",
]
COMPANY_ENDINGS = [
    "wind", "peak", "path", "line", "field", "bridge", "gate", "works", "light", "stack",
    "point", "wave", "forge", "crest", "yard",
]

# industry: (company-name suffixes, how well it fits Brightwave's ideal customer, 0–2)
INDUSTRIES = {
    "Software": (["Software", "Labs", "Cloud", "Systems"], 2),
    "Financial services": (["Capital", "Financial", "Payments"], 2),
    "Professional services": (["Consulting", "Partners", "Advisory"], 1),
    "Marketing agency": (["Media", "Creative", "Digital"], 1),
    "Healthcare": (["Health", "Medical", "Care"], 1),
    "Manufacturing": (["Manufacturing", "Industries", "Components"], 1),
    "Logistics": (["Logistics", "Freight"], 1),
    "Telecommunications": (["Telecom", "Networks"], 1),
    "Retail": (["Retail", "Outfitters", "Goods"], 0),
    "Education": (["Academy", "Learning"], 0),
}
INDUSTRY_WEIGHTS = [26, 12, 10, 8, 8, 9, 7, 5, 9, 6]

# country: (weight, in a region Brightwave sells to)
COUNTRIES = {
    "United States": (34, True),
    "United Kingdom": (12, True),
    "Germany": (9, True),
    "Canada": (7, True),
    "France": (6, True),
    "Netherlands": (5, True),
    "Australia": (5, True),
    "India": (5, False),
    "Sweden": (3, True),
    "Spain": (3, True),
    "Ireland": (3, True),
    "Brazil": (3, False),
    "Japan": (2, False),
    "Singapore": (2, False),
    "Denmark": (1, True),
}

# Employee-count ranges and how often companies of that size turn up.
COMPANY_SIZES = [((2, 9), 10), ((10, 49), 22), ((50, 199), 26), ((200, 999), 22),
                 ((1000, 4999), 13), ((5000, 20000), 7)]

# title: (seniority, 0–3, for the fit grade; weight)
JOB_TITLES = {
    "CEO": (3, 3),
    "Founder": (3, 3),
    "Chief Revenue Officer": (3, 2),
    "VP of Marketing": (3, 4),
    "VP of Sales": (3, 4),
    "Head of Growth": (3, 4),
    "Director of Demand Generation": (2, 5),
    "Marketing Director": (2, 5),
    "Sales Director": (2, 5),
    "Head of Revenue Operations": (2, 4),
    "Marketing Operations Manager": (2, 7),
    "Sales Operations Manager": (2, 5),
    "Growth Marketing Manager": (1, 7),
    "Content Marketing Manager": (1, 6),
    "Account Executive": (1, 6),
    "Marketing Specialist": (1, 6),
    "Consultant": (1, 4),
    "Sales Development Representative": (0, 5),
    "Marketing Coordinator": (0, 5),
    "Data Analyst": (1, 4),
    "Software Engineer": (0, 3),
    "Office Manager": (0, 2),
    "Student": (0, 2),
}

# How leads arrive. (weight, Lead.source, utm_medium, campaigns, terms, referrer, landing path)
# A channel without a medium has no UTM parameters.
CHANNELS = [
    (20, "google", "cpc", ["revenue-analytics-search", "competitor-alternatives", "brand"],
     ["revenue analytics", "sales forecasting software", "pipeline dashboard", "b2b analytics"],
     "https://www.google.com/", "/lp/revenue-analytics"),
    (13, "linkedin", "paid-social", ["abm-q3-directors", "webinar-pipeline-hygiene"],
     [], "https://www.linkedin.com/", "/webinars/pipeline-hygiene"),
    (8, "newsletter", "email", ["monthly-digest", "product-update"],
     [], "", "/blog/pipeline-metrics-that-matter"),
    (6, "g2", "referral", ["g2-category-page"],
     [], "https://www.g2.com/", "/compare/brightwave-vs-spreadsheets"),
    (4, "facebook", "paid-social", ["retargeting-pricing"],
     [], "https://www.facebook.com/", "/pricing"),
    (4, "partner", "referral", ["agency-partners"],
     [], "https://www.northpeak-consulting.example/tools", "/partners"),
    (22, "organic", "", [], [], "https://www.google.com/", "/blog/forecast-accuracy"),
    (12, "direct", "", [], [], "", "/"),
    (6, "manual", "", [], [], "", ""),
    (5, "import", "", [], [], "", ""),
]
UTM_CONTENT = ["carousel-a", "video-30s", "text-ad-2", "banner-blue", ""]

PAGES = {
    "/": "Brightwave — Revenue analytics for B2B teams",
    "/pricing": "Pricing — Brightwave",
    "/demo": "Book a demo — Brightwave",
    "/features/forecasting": "Forecasting — Brightwave",
    "/features/dashboards": "Dashboards — Brightwave",
    "/features/pipeline-health": "Pipeline health — Brightwave",
    "/integrations/salesforce": "Salesforce integration — Brightwave",
    "/integrations/hubspot": "HubSpot integration — Brightwave",
    "/customers": "Customer stories — Brightwave",
    "/security": "Security and compliance — Brightwave",
    "/blog/pipeline-metrics-that-matter": "7 pipeline metrics that matter — Brightwave blog",
    "/blog/forecast-accuracy": "How to improve forecast accuracy — Brightwave blog",
    "/blog/sales-and-marketing-alignment": "Sales and marketing alignment — Brightwave blog",
    "/docs/getting-started": "Getting started — Brightwave docs",
    "/lp/revenue-analytics": "Revenue analytics in one afternoon — Brightwave",
    "/webinars/pipeline-hygiene": "Webinar: Pipeline hygiene in 30 minutes — Brightwave",
    "/compare/brightwave-vs-spreadsheets": "Brightwave vs. spreadsheets — Brightwave",
    "/partners": "Partners — Brightwave",
    "/resources/forecasting-playbook": "The B2B forecasting playbook — Brightwave",
}
# Pages a buyer reads; they count more towards the score.
HIGH_INTENT_PAGES = {"/pricing", "/demo", "/security", "/integrations/salesforce",
                     "/integrations/hubspot"}

# key: (form name, the page it is on, intent 0–2)
FORMS = {
    "newsletter": ("Newsletter signup", "/blog/pipeline-metrics-that-matter", 0),
    "playbook": ("Download: The B2B forecasting playbook", "/resources/forecasting-playbook", 1),
    "webinar": ("Webinar: Pipeline hygiene in 30 minutes", "/webinars/pipeline-hygiene", 1),
    "trial": ("Start a free trial", "/lp/revenue-analytics", 2),
    "demo": ("Request a demo", "/demo", 2),
    "contact-sales": ("Contact sales", "/pricing", 2),
}
# The form a channel's landing page converts on.
CHANNEL_FORMS = {
    "/lp/revenue-analytics": "trial",
    "/webinars/pipeline-hygiene": "webinar",
    "/blog/pipeline-metrics-that-matter": "newsletter",
    "/compare/brightwave-vs-spreadsheets": "demo",
    "/pricing": "contact-sales",
    "/partners": "contact-sales",
    "/blog/forecast-accuracy": "playbook",
    "/": "demo",
}

CONSENT_TEXT = (
    "Yes, send me Brightwave product news, guides and event invitations. "
    "I can unsubscribe at any time."
)

# (sequence, [(step, subject, link path)])
SEQUENCES = [
    ("Welcome series", [
        (1, "Welcome to Brightwave — where to start", "/docs/getting-started"),
        (2, "The 3 dashboards our customers build first", "/features/dashboards"),
        (3, "Your forecasting checklist", "/resources/forecasting-playbook"),
        (4, "Brightwave vs. spreadsheets, honestly", "/compare/brightwave-vs-spreadsheets"),
    ]),
    ("Webinar follow-up", [
        (1, "Recording: Pipeline hygiene in 30 minutes", "/webinars/pipeline-hygiene"),
        (2, "5 questions from the webinar, answered", "/blog/sales-and-marketing-alignment"),
    ]),
    ("Monthly digest", [
        (1, "The Brightwave digest: forecast accuracy", "/blog/forecast-accuracy"),
        (2, "The Brightwave digest: pipeline metrics", "/blog/pipeline-metrics-that-matter"),
    ]),
]
MAIL_CLIENTS = ["Apple Mail", "Gmail", "Outlook 365", "Outlook for Mac", "Gmail (Android)",
                "iOS Mail"]

# Why leads leave the funnel, as reps write it.
DISQUALIFY_REASONS = [
    "No budget this year; revisit in Q1.",
    "Student researching for a thesis, not a buyer.",
    "Works for a competitor.",
    "Two-person company, below our smallest plan.",
    "Duplicate of an existing customer contact.",
    "Outside the regions we sell to.",
    "Chose a competitor after the demo.",
]
REJECT_REASONS = [
    "Not a decision maker; asked us to talk to their manager instead.",
    "Downloading content only, no buying intent yet.",
    "Timing: evaluating tools next quarter.",
]
QUALIFY_REASONS = [
    "Discovery call: budget and timeline confirmed.",
    "Replied to outreach; wants a demo for the sales leadership team.",
    "Inbound demo request from a target account.",
    "",
]
IMPORT_LISTS = ["RevOps Summit 2025 booth scans", "Partner webinar attendees (Northpeak)"]
