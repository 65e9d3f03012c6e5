"""A preprocessor added to nbgrader's feedback step (also used by plain ``nbgrader``)."""

from nbgrader.preprocessors import NbGraderPreprocessor

from .notebooks import HIDDEN_BEGIN, is_test_cell


class TrimHiddenTracebacks(NbGraderPreprocessor):
    """In test cells with hidden tests, show only ``Error: message`` of a failure.

    A traceback quotes the failing line, which may be a hidden test; the message alone (the
    one-sentence ``AssertionError`` of ``course_utils.testing``) tells the student what is wrong.
    Runs before ``ClearHiddenTests``, which removes the hidden lines from the source.
    """

    def preprocess_cell(self, cell, resources, index):
        if is_test_cell(cell) and HIDDEN_BEGIN in cell.source:
            for out in cell.get("outputs", []):
                if out.get("output_type") == "error":
                    out["traceback"] = [f"{out.get('ename', 'Error')}: {out.get('evalue', '')}"]
        return cell, resources
