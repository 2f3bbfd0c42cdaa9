"""Word tables of the free-text PHI detector (immutable; six languages: en, de, fr, es, it, nl).

Months and weekdays, titles and role words that announce a name, function words that
never belong to one, imaging vocabulary the DICOM dictionary lacks, institution and street
words, US/CA/AU region codes and identifier labels. Larger lists (first names, surnames,
word frequencies, street types) come from installed packages: see :mod:`.lexicon`.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from types import MappingProxyType

MONTHS_FULL = (
    # en
    "january february march april may june july august september october november december "
    # de (incl. Austrian forms)
    "januar jänner jaenner februar feber märz maerz april mai juni juli august september oktober november dezember "
    # fr
    "janvier février fevrier mars avril mai juin juillet août aout septembre octobre novembre décembre decembre "
    # es
    "enero febrero marzo abril mayo junio julio agosto septiembre setiembre octubre noviembre diciembre "
    # it
    "gennaio febbraio marzo aprile maggio giugno luglio agosto settembre ottobre novembre dicembre "
    # nl
    "januari februari maart april mei juni juli augustus september oktober november december"
).split()
MONTHS_ABBR = (
    "jan feb mar apr jun jul aug sep sept oct nov dec "
    "jän mär mrz okt dez "
    "janv févr fevr avr juil déc "
    "ene abr ago set dic "
    "gen mag giu lug ott "
    "mrt mei"
).split()
WEEKDAYS = (
    "monday tuesday wednesday thursday friday saturday sunday mon tue tues wed thu thur thurs fri sat sun "
    "montag dienstag mittwoch donnerstag freitag samstag sonnabend sonntag mo di mi do fr sa so "
    "lundi mardi mercredi jeudi vendredi samedi dimanche lun mar mer jeu ven sam dim "
    "lunes martes miércoles miercoles jueves viernes sábado sabado domingo "
    "lunedì lunedi martedì martedi mercoledì mercoledi giovedì giovedi venerdì venerdi sabato domenica "
    "maandag dinsdag woensdag donderdag vrijdag zaterdag zondag ma wo vr za zo"
).split()

# Titles and honorifics (lower case, without the final dot) in en, de, fr, es, it, nl.
TITLES = frozenset(
    (
        "dr drs doctor doc prof professor mr mrs ms miss mx mister sir dame madam rev "
        "herr frau fr hr dipl priv pd oa oä ca cä "
        "m mme mlle monsieur madame mademoiselle pr docteur "
        "sr sra srta señor señora senor senora don doña dona dra "
        "dott dottor dottore dottoressa sig signor signore signora sigra prof.ssa "
        "dhr mevr mw mevrouw meneer ir"
    ).split()
)
# Title words that are also ordinary words or modality codes: trusted only when written
# with a dot or followed by a known name.
WEAK_TITLES = frozenset("m mr mrs ms pr fr sr pd ca ir doc don mw rev dame sir miss".split())
# Academic/medical grades written after a title ("Prof. Dr. med. Hans Müller").
GRADES = frozenset("med dent vet rer nat phil habil univ mult jur dipl-ing ing phd md ra ssa".split())
# Name particles allowed between name tokens.
PARTICLES = frozenset(
    "van von de der den del della dello dei degli di da dal du le la les dos das do ten ter zu zur y e bin ibn al "
    "el st vd v d".split()
)
# Company suffixes: the words before them name a company, not a person.
COMPANY = frozenset("co ltd inc corp llc gmbh ag kg sa bv nv spa srl plc sarl sas oy ab as".split())
# Words that announce a person's name.
CUES = frozenset(
    (
        "patient patientin patiente paciente paziente patiënt pt pat "
        "mother father wife husband son daughter sister brother spouse partner guardian relative relatives "
        "mom mum dad grandmother grandfather aunt uncle cousin friend neighbour neighbor caregiver "
        "mutter vater ehefrau ehemann sohn tochter schwester bruder "
        "mère mere père pere épouse epouse époux epoux fils fille soeur frère frere "
        "madre padre esposa esposo hijo hija hermana hermano "
        "moglie marito figlio figlia sorella fratello "
        "moeder vader echtgenote echtgenoot zoon dochter zus broer "
        "by per from cc attn attention contact "
        "von durch bei an par chez por con da door "
        "radiologist technologist tech techs operator physician surgeon nurse resident fellow attending "
        "referrer referring referred ordered requested signed dictated read reported reviewed approved "
        "verified performed transcribed interpreted discussed informed notified called contacted told "
        "radiologe radiologin arzt ärztin zuweiser befunder überweiser "
        "médecin medecin radiologue manipulateur "
        "médico medico radiólogo radiologo técnico tecnico "
        "arts radioloog laborant "
        "name nom nombre nome naam"
    ).split()
)
# Role words after which one capitalised word is a name even if it is also a word
# ("patient Bruder", "figlia Magnus"): the patient and relatives, in six languages.
KIN = frozenset(
    (
        "patient patientin patiente paciente paziente patiënt "
        "mother father wife husband son daughter sister brother spouse partner guardian "
        "mom mum dad grandmother grandfather aunt uncle cousin "
        "mutter vater ehefrau ehemann sohn tochter schwester bruder "
        "mère mere père pere épouse epouse époux epoux fils fille soeur frère frere "
        "madre padre esposa esposo hijo hija hermana hermano "
        "moglie marito figlio figlia sorella fratello "
        "moeder vader echtgenote echtgenoot zoon dochter zus broer"
    ).split()
)
# Words between a role word and the name ("discussed with", "signed by", "besprochen mit").
CONNECTORS = frozenset("with to by mit an von avec à a par con per met door".split())
# Lower-case words that are never part of a name (function words in six languages).
STOP = frozenset(
    (
        "a an the and or of in on at to for with without w wo no not is was are be as it its this that "
        "und oder mit ohne im am vom zum zur auf aus nach vor über unter bei ist nicht kein keine "
        "et ou avec sans dans sur sous pour le la les un une des du au aux est "
        "y o con sin en sobre para el los las una unos por del al "
        "e o con senza in su per il lo gli una dei della nel "
        "en of met zonder op voor het een de van bij"
    ).split()
)
# Imaging vocabulary that the DICOM dictionary and the SR concept tables do not hold:
# sequence and protocol words, vendors and scanner models, contrast agents, and common
# radiology words in de, fr, es, it and nl.
IMAGING = frozenset(
    (
        # sequences / techniques
        "flair fiesta haste trufi truefisp vibe space blade propeller mprage mp2rage tse fse gre spgr swi swan "
        "dwi dti adc tof pc cine ssfp bold epi ep2d stir tirm dixon lava starvibe twist tricks resolve "
        "localizer localiser scout topogram survey surview calibration asset sense grappa caipi "
        "axial axiale ax sag cor tra coronal sagittal transversal transverse oblique obl iso "
        "routine standard protocol protokoll protocole protocolo protocollo default "
        "angio cta mra mrv ctv venography perfusion spectroscopy mrcp enterography arthro arthrography "
        "recon mpr mip minip vrt reformat reformats bone lung soft tissue mediastinum window kernel "
        "contrast kontrast contraste contrasto nativ native plain enhanced delayed arterial venous portal "
        "dynamic dyn pre post early late phase phasen phase "
        # vendors / models
        "siemens philips ge toshiba canon hitachi fujifilm fuji agfa carestream hologic samsung mindray esaote "
        "healthineers healthcare medical systems magnetom somatom skyra prisma vida avanto aera verio trio "
        "espree sola altea lumina biograph symbia definition force drive edge flash sensation emotion "
        "ingenia achieva intera panorama brilliance iqon incisive elition signa optima discovery revolution "
        "lightspeed hdxt pioneer premier architect aquilion vantage titan orian galan prime genesis "
        "lunar prodigy selenia dimensions senographe pristina mammomat affirm "
        # contrast agents
        "isovue omnipaque visipaque ultravist iomeron optiray imeron xenetix iopamidol iohexol iodixanol "
        "gadovist dotarem magnevist multihance prohance clariscan omniscan eovist primovist vasovist "
        "elucirem vueway gadavist gadobutrol gadoterate sonovue definity lumason optison fdg psma "
        "barium gastrografin telebrix "
        # units / misc
        "mm cm kv kvp mas mgy mbq ms hz tesla gauss dlp ctdi ctdivol fov slice slices thickness"
    ).split()
)
# Radiology words in de, fr, es, it, nl: clinical, but a frequent name wins (Long, Hart, Rene).
CLINICAL_WORDS = frozenset(
    (
        "kopf schädel schaedel hals thorax becken abdomen wirbelsäule wirbelsaeule lws bws hws knie schulter "
        "hüfte huefte sprunggelenk handgelenk ellenbogen fuss fuß hand hirn gehirn schädelbasis nnh orbita "
        "leber niere nieren lunge herz mamma brust prostata gefäße gefaesse links rechts beidseits bds "
        "übersicht uebersicht aufnahme aufnahmen serie untersuchung befund verlauf kontrolle nachuntersuchung "
        "tête tete crâne crane cou rachis genou épaule epaule hanche cheville poignet coude pied main "
        "cerveau cerebral cérébral foie rein reins poumon poumons coeur sein bassin gauche droite droit bilatéral "
        "coupe coupes injection injecté examen contrôle controle suivi "
        "cabeza cráneo craneo cuello columna rodilla hombro cadera tobillo muñeca codo pie mano cerebro "
        "hígado higado riñón rinon pulmón pulmon corazón corazon mama pelvis izquierda derecha "
        "estudio control seguimiento "
        "testa cranio collo colonna ginocchio spalla anca caviglia polso gomito piede mano cervello "
        "fegato rene polmone cuore seno bacino sinistra destra esame controllo "
        "hoofd schedel nek wervelkolom knie schouder heup enkel pols elleboog voet hand hersenen "
        "lever nier long hart borst bekken links rechts onderzoek controle "
        "echographie échographie echografie ecografía ecografia sonographie sonografie radiographie radiografía "
        "radiografia röntgen rontgen scintigraphie szintigraphie gammagrafía tomographie tomografía tomografia "
        "angiographie angiografía mammographie mamografía irm tdm tc rm mrt scanner"
    ).split()
)
# Words that make a span an institution name (also matched inside German/Dutch compounds).
INSTITUTION_WORDS = (
    "hospital|hospitals|clinic|clinics|infirmary|sanatorium|sanatorio|hospice|"
    "medical center|medical centre|health center|health centre|health system|healthcare|health care|"
    "imaging center|imaging centre|cancer center|cancer centre|heart center|children's hospital|"
    "radiology associates|radiology group|radiology partners|diagnostic imaging|"
    "klinik|klinikum|kliniken|krankenhaus|spital|praxis|gemeinschaftspraxis|mvz|radiologie|"
    "universitätsmedizin|universitatsmedizin|hôpital|hopital|hôpitaux|clinique|polyclinique|"
    "centre hospitalier|chu|chru|cabinet|centre d'imagerie|institut|"
    "clínica|clinica|hospital universitario|policlínico|policlinico|ospedale|azienda ospedaliera|"
    "istituto|irccs|asl|ziekenhuis|kliniek|gasthuis|medisch centrum|umc|radiologen|"
    "university|universität|universitat|université|universidad|università|universiteit|"
    "institute|instituto|foundation|stiftung|fondation|fundación|fondazione"
)
INSTITUTION_COMPOUND = ("klinik", "klinikum", "krankenhaus", "spital", "ziekenhuis", "kliniek", "gasthuis", "praxis")
# Street types: US/CA/GB/AU (pyap's USPS list is added at run time) and de/fr/es/it/nl/ch/at/be.
STREET_AFTER = (
    "street|st|avenue|ave|av|road|rd|lane|ln|drive|boulevard|blvd|court|ct|place|pl|terrace|way|"
    "crescent|close|square|sq|parkway|pkwy|highway|hwy|circle|cir|trail|row|mews|gardens|grove|hill|"
    "park|walk|view|green|rise|gate|wharf|quay|yard|slope|round|"
    # Australia Post (AS 4590) and Canada Post types that the USPS list lacks
    "parade|esplanade|promenade|circuit|chase|grange|retreat|loop|outlook|brace|cove|nook|vale|glade|concourse|"
    "crest|boardwalk|firetrail|subway|ridgeway|mall|gardens|heights|line|side|range|wynd|common|end|approach|"
    "broadway|close|croft|dale|fold|fields|mead|meadow|orchard|paddock|ridge|rue|walkway|foreshore|track|trail|"
    "alleyway|amble|anchorage|arcade|artery|basin|bend|boulevard|brae|brow|bypass|byway|causeway|centreway|circlet|"
    "circus|colonnade|copse|corner|courtyard|crossing|crossway|cruiseway|cutting|dell|deviation|distributor|driveway|"
    "edge|entrance|estate|expressway|fairway|footway|formation|freeway|frontage|garden|gates|glen|ground|gully|"
    "highroad|interchange|junction|landing|laneway|lees|link|lookout|meander|mew|motorway|parklands|pass|path|"
    "pathway|plateau|pocket|port|quadrangle|quadrant|ramble|reserve|riverway|riviera|roads|roadside|roadway|ronde|"
    "rosebowl|rotary|route|siding|strand|thoroughfare|tollway|towers|trailer|triangle|trunkway|turn|villas|vista|wade|"
    "gap|quays|tarn|quad|cul-de-sac"
)
STREET_BEFORE = (
    "rue|avenue|av|boulevard|bd|bld|chemin|ch|place|pl|allée|allee|impasse|imp|quai|route|rte|cours|c\\.|"
    "square|passage|sentier|voie|faubourg|"
    "pasadizo|bajada|subida|senda|carril|vereda|"
    "calle|c/|avenida|avda|av|plaza|pza|paseo|pº|camino|carretera|ctra|ronda|travesía|travesia|glorieta|"
    "rambla|via|viale|piazza|piazzale|corso|largo|vicolo|strada|contrada|lungomare|borgo|canale|rotonda|stretto|"
    "incrocio|piazzetta|traversa|alameda|acceso|callejón|callejon|cañada|canada|cuesta|pasaje|urbanización|"
    "urbanizacion|vía|vial|camino|carrera|ruta|sector|"
    "am|an der|an den|auf der|im|in der|zum|zur|unter den|hinter der|"
    "straße|strasse|str|weg|gasse|platz|allee"
)
STREET_SUFFIX = (
    "straße|strasse|str|weg|gasse|gässli|platz|allee|ring|damm|ufer|chaussee|steig|pfad|markt|graben|"
    "berg|hof|feld|garten|tor|stieg|kamp|wall|zeile|"
    "straat|laan|plein|gracht|kade|singel|dijk|dreef|steeg|pad|hof|park|markt|weg|baan|wal|boulevard|lei|plantsoen|"
    "veld|erf|hoven|straatweg"
)
US_STATES = frozenset(
    (
        "AL AK AZ AR CA CO CT DE FL GA HI ID IL IN IA KS KY LA ME MD MA MI MN MS MO MT NE NV NH NJ NM NY NC ND "
        "OH OK OR PA RI SC SD TN TX UT VT VA WA WV WI WY DC PR AS GU VI MP FM MH PW AA AE AP "
        "AB BC MB NB NL NS NT NU ON PE QC SK YT NSW VIC QLD WA SA TAS ACT NT"
    ).split()
)
ID_KEYS = (
    r"mrn|mr\s?#|mr\s?no|mr\s?n[or]\.?|med\.?\s?rec(?:ord)?\.?(?:\s?(?:no|nr|#))?|pid|patient\s?id|pat\.?\s?id|"
    r"id|ids|acc|acc\.|accession(?:\s?(?:no|nr|number|#))?|acc\s?(?:no|nr|#)|a/n|"
    r"case(?:\s?(?:no|nr|#))?|order(?:\s?(?:no|nr|#))?|visit(?:\s?(?:no|nr|#))?|encounter|study\s?id|"
    r"ssn|sin|nhs(?:\s?(?:no|number))?|nir|bsn|avs|ahv|svnr|insurance\s?(?:no|nr|#)?|policy\s?(?:no|#)?|"
    r"fall(?:nummer|nr|-nr)?|pat\.?-?nr|patienten-?nr|auftrags?-?nr|versichertennr|kv-?nr|"
    r"n°|nº|no|nr|num|número|numero|dossier|ipp|nip|expediente|historia|nhc|cartella|"
    r"patiëntnummer|patientnummer|#"
)

FOLD: Mapping[int, str] = MappingProxyType(
    str.maketrans({"ß": "ss", "ø": "o", "æ": "ae", "œ": "oe", "ł": "l", "đ": "d", "ı": "i"})
)


def fold(word: str) -> str:
    """Lower-case ``word`` and drop its accents (``Müller`` -> ``muller``)."""
    if word.isascii():
        return word.lower()
    decomposed = unicodedata.normalize("NFKD", word.lower().translate(FOLD))
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def alternation(words: Iterable[str]) -> str:
    return "|".join(sorted({re.escape(w) for w in words}, key=lambda w: (-len(w), w)))
