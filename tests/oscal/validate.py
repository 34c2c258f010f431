"""Validate OSCAL JSON documents as a GRC tool would read them.

    python validate.py [--schema-only] SCHEMA FILE...

Each FILE is loaded with compliance-trestle's pydantic models (`oscal_read`, the class chosen
by the document's root key) and validated against SCHEMA, NIST's OSCAL "complete" JSON schema
for the OSCAL version trestle implements. Prints `OK <file> ...` or `REFUSED <file>: <why>`
per file; exits 1 when any file is refused, 2 on usage errors. `--schema-only` skips trestle
(the tests use it to prove the schema check rejects a document on its own).
"""

import json
import pathlib
import sys

import jsonschema
import regex
import trestle
import trestle.oscal
from trestle.oscal.assessment_plan import AssessmentPlan
from trestle.oscal.assessment_results import AssessmentResults
from trestle.oscal.component import ComponentDefinition

MODELS = {
    "assessment-results": AssessmentResults,
    "assessment-plan": AssessmentPlan,
    "component-definition": ComponentDefinition,
}


def pattern(validator, expected, instance, schema):
    """`pattern` with the Unicode property classes (\\p{L}, \\p{N}) the schema uses, which
    Python's `re` (jsonschema's default) cannot compile."""
    if validator.is_type(instance, "string") and not regex.search(expected, instance):
        yield jsonschema.ValidationError(f"{instance!r} does not match {expected!r}")


def schema_validator(schema_path):
    schema = json.loads(pathlib.Path(schema_path).read_text())
    # The schema must itself be a valid draft-07 schema, its patterns compiled as `regex` does.
    regexes = jsonschema.FormatChecker(formats=())
    regexes.checks("regex", raises=regex.error)(lambda text: bool(regex.compile(text)))
    jsonschema.Draft7Validator.check_schema(schema, format_checker=regexes)
    cls = jsonschema.validators.extend(jsonschema.Draft7Validator, {"pattern": pattern})
    return schema, cls(schema)


def check(path, validator, use_trestle=True):
    """None when the document is accepted, else why not."""
    try:
        document = json.loads(pathlib.Path(path).read_text())
    except (OSError, ValueError) as error:
        return f"not JSON: {error}"
    roots = [key for key in document if key in MODELS]
    if len(roots) != 1:
        return f"expected one root of {sorted(MODELS)}, found {sorted(document)}"
    root = roots[0]
    version = document[root].get("metadata", {}).get("oscal-version")
    if version != trestle.oscal.OSCAL_VERSION:
        return f"oscal-version {version!r} is not trestle's {trestle.oscal.OSCAL_VERSION!r}"
    try:
        if use_trestle:
            MODELS[root].oscal_read(pathlib.Path(path))
    except Exception as error:  # trestle raises pydantic and its own errors alike
        return f"trestle refuses it as {root}: {error}"
    errors = sorted(validator.iter_errors(document), key=lambda e: list(e.absolute_path))
    if errors:
        best = jsonschema.exceptions.best_match(errors)
        where = "/".join(str(p) for p in best.absolute_path)
        return f"the schema rejects it ({len(errors)} errors), at /{where}: {best.message[:400]}"
    return None


def main(argv):
    use_trestle = "--schema-only" not in argv
    argv = [a for a in argv if a != "--schema-only"]
    if len(argv) < 3:
        print(__doc__, file=sys.stderr)
        return 2
    schema, validator = schema_validator(argv[1])
    # The schema must be for the OSCAL version trestle implements, or the two checks disagree.
    if f"-{trestle.oscal.OSCAL_VERSION}-" not in schema.get("$id", ""):
        print(
            f"error: schema {schema.get('$id')} is not for OSCAL {trestle.oscal.OSCAL_VERSION}",
            file=sys.stderr,
        )
        return 2
    refused = 0
    for path in argv[2:]:
        why = check(path, validator, use_trestle)
        if why is None:
            loaded = f"trestle {trestle.__version__}, " if use_trestle else ""
            print(
                f"OK {path} ({loaded}OSCAL {trestle.oscal.OSCAL_VERSION}, "
                f"schema {schema.get('$id')})"
            )
        else:
            refused += 1
            print(f"REFUSED {path}: {why}")
    return 1 if refused else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
