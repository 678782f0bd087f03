//! Word lists the seed draws names and attributes from.

pub const FIRST_NAMES: &[&str] = &[
    "Anna", "Ben", "Clara", "David", "Elena", "Felix", "Greta", "Hugo", "Ines", "Jonas", "Katrin",
    "Lukas", "Maria", "Noah", "Olivia", "Paul", "Quentin", "Rosa", "Samuel", "Tina", "Ulrich",
    "Vera", "William", "Xenia", "Yusuf", "Zoe", "Amir", "Bianca", "Carlos", "Daniela", "Emil",
    "Fatima", "Gustav", "Hannah", "Igor", "Julia", "Karim", "Lena", "Marco", "Nina", "Oskar",
    "Priya", "Rafael", "Sofia", "Tom", "Uma", "Viktor", "Wen", "Yara", "Zeynep",
];

pub const LAST_NAMES: &[&str] = &[
    "Müller",
    "Schmidt",
    "Martin",
    "Bernard",
    "Smith",
    "Jones",
    "Garcia",
    "Rossi",
    "Jansen",
    "Nowak",
    "Larsen",
    "Dubois",
    "Novak",
    "Silva",
    "Kowalski",
    "Andersson",
    "Fischer",
    "Weber",
    "Meyer",
    "Wagner",
    "Becker",
    "Hoffmann",
    "Moreau",
    "Laurent",
    "Brown",
    "Taylor",
    "Wilson",
    "Ferrari",
    "Esposito",
    "de Vries",
    "Bakker",
    "Nielsen",
    "Hansen",
    "Costa",
    "Santos",
    "Lopez",
    "Fernandez",
    "Kaya",
    "Yilmaz",
    "Horvat",
    "Popescu",
    "Ivanova",
    "Berg",
    "Lind",
    "Keller",
    "Huber",
    "Wolf",
    "Schneider",
    "Zimmermann",
    "Krause",
];

pub const COMPANY_PREFIXES: &[&str] = &[
    "Nordwind",
    "Alpen",
    "Blue",
    "Cobalt",
    "Delta",
    "Evergreen",
    "Falcon",
    "Granite",
    "Harbor",
    "Iron",
    "Juniper",
    "Kestrel",
    "Lumen",
    "Meridian",
    "Nimbus",
    "Orbit",
    "Pioneer",
    "Quantum",
    "Riverside",
    "Summit",
    "Tandem",
    "Unity",
    "Vertex",
    "Westfield",
    "Zenith",
    "Apex",
    "Beacon",
    "Cedar",
    "Dynamo",
    "Ember",
];

pub const COMPANY_SUFFIXES: &[&str] = &[
    "Systems",
    "Logistics",
    "Analytics",
    "Health",
    "Foods",
    "Energy",
    "Robotics",
    "Capital",
    "Media",
    "Labs",
    "Industries",
    "Software",
    "Retail",
    "Consulting",
    "Networks",
    "Bank",
    "Pharma",
    "Motors",
    "Telecom",
    "Learning",
];

pub const JOB_TITLES: &[&str] = &[
    "CEO",
    "CTO",
    "CFO",
    "COO",
    "VP Sales",
    "VP Marketing",
    "Head of Marketing",
    "Head of IT",
    "Marketing Manager",
    "Sales Manager",
    "IT Manager",
    "Procurement Manager",
    "Software Engineer",
    "Data Analyst",
    "Product Manager",
    "Operations Manager",
    "Marketing Specialist",
    "Student",
    "Consultant",
    "Office Manager",
];

pub const INDUSTRIES: &[&str] = &[
    "Software",
    "Finance",
    "Healthcare",
    "Manufacturing",
    "Retail",
    "Education",
    "Logistics",
    "Energy",
    "Media",
    "Telecommunications",
    "Public Sector",
    "Consulting",
];

pub const COUNTRIES: &[(&str, u32)] = &[
    ("DE", 22),
    ("FR", 12),
    ("GB", 11),
    ("US", 14),
    ("NL", 6),
    ("ES", 6),
    ("IT", 6),
    ("SE", 3),
    ("PL", 4),
    ("CH", 4),
    ("AT", 4),
    ("BE", 3),
    ("DK", 2),
    ("IE", 2),
    ("CA", 1),
];

pub const PAGE_PATHS: &[&str] = &[
    "/",
    "/pricing",
    "/product",
    "/product/scoring",
    "/product/integrations",
    "/blog/lead-scoring-basics",
    "/blog/mql-vs-sql",
    "/blog/b2b-funnel-metrics",
    "/case-studies",
    "/docs",
    "/contact",
    "/about",
];

pub const ASSETS: &[&str] = &[
    "whitepaper-lead-scoring",
    "ebook-b2b-funnel",
    "checklist-icp",
    "report-state-of-b2b-marketing",
    "template-roi-calculator",
];

pub const WEBINARS: &[&str] = &[
    "scoring-that-sales-trusts",
    "from-mql-to-revenue",
    "gdpr-for-marketers",
    "abm-in-practice",
];

pub const EMAIL_SUBJECTS: &[&str] = &[
    "Your guide to lead scoring",
    "Monthly product update",
    "Invitation: live demo",
    "Case study: 3x pipeline",
    "Last chance: webinar seats",
];

pub const DISQUALIFICATION_REASONS: &[&str] = &[
    "no budget",
    "not the decision maker",
    "chose a competitor",
    "no response after 5 attempts",
    "student or job seeker",
    "outside target market",
];

pub const RECYCLE_REASONS: &[&str] = &[
    "re-engaged with new content",
    "new budget cycle",
    "back to nurturing",
    "timing not right yet",
];

pub const TIMELINES: &[&str] = &[
    "this quarter",
    "next quarter",
    "within 6 months",
    "next fiscal year",
];

pub const FORMS: &[&str] = &["contact", "newsletter", "trial"];

pub const MEETING_TOPICS: &[&str] = &["discovery", "demo", "negotiation"];
