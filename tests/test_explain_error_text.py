"""Finding the error in a paste (a message, a traceback, a log) and undoing the damage of
copying it through web pages and chat windows."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from kb.explain.error_text import MAX_LINE, MAX_SEGMENT_CHARS, MAX_SEGMENT_LINES, extract
from kb.explain.paste import clean, join_lines

TRACEBACK = """\
Traceback (most recent call last):
  File "train.py", line 12, in <module>
    out = model(x)
  File "/usr/lib/python3/site-packages/torch/nn/modules/module.py", line 1501, in _call_impl
    return forward_call(*args, **kwargs)
RuntimeError: mat1 and mat2 shapes cannot be multiplied (64x512 and 256x10)
"""


def test_the_final_exception_of_a_traceback_is_the_error():
    error = extract(TRACEBACK)
    assert error.exc_type == "RuntimeError"
    assert error.message == "mat1 and mat2 shapes cannot be multiplied (64x512 and 256x10)"
    assert error.segments[0].origin == "final exception"
    assert error.headline == "RuntimeError: " + error.message


def test_in_a_chain_the_last_exception_comes_first_and_the_earlier_one_is_kept():
    text = ("Traceback (most recent call last):\n  File \"a.py\", line 1, in <module>\n"
            "KeyError: 'label'\n\n"
            "During handling of the above exception, another exception occurred:\n\n" + TRACEBACK)
    error = extract(text)
    assert error.exc_type == "RuntimeError"
    assert [s.origin for s in error.segments][:2] == ["final exception", "earlier exception"]
    assert "KeyError" not in error.segments[0].text and "'label'" in error.segments[1].text


def test_the_original_error_inside_a_dataloader_worker_wins_over_its_wrapper():
    text = """\
Traceback (most recent call last):
  File "train.py", line 40, in <module>
    for x, y in loader:
RuntimeError: Caught RuntimeError in DataLoader worker process 0.
Original Traceback (most recent call last):
  File "/usr/lib/python3/site-packages/torch/utils/data/_utils/worker.py", line 308, in _worker_loop
    data = fetcher.fetch(index)
RuntimeError: stack expects each tensor to be equal size, but got [3, 224, 224] at entry 0 and \
[3, 200, 300] at entry 1
"""
    assert extract(text).message.startswith("stack expects each tensor to be equal size")


def test_cudas_notes_after_the_message_belong_to_it():
    text = ("RuntimeError: CUDA error: device-side assert triggered\n"
            "CUDA kernel errors might be asynchronously reported at some other API call, so the "
            "stacktrace below might be incorrect.\n"
            "For debugging consider passing CUDA_LAUNCH_BLOCKING=1.\n"
            "Compile with `TORCH_USE_CUDA_DSA` to enable device-side assertions.\n")
    error = extract(text)
    assert error.message.startswith("CUDA error: device-side assert triggered CUDA kernel errors")
    assert "TORCH_USE_CUDA_DSA" in error.message


def test_the_assert_line_printed_before_a_device_side_assert_is_its_cause():
    final = TRACEBACK.replace("mat1 and mat2 shapes cannot be multiplied (64x512 and 256x10)",
                              "CUDA error: device-side assert triggered")
    text = ("../aten/src/ATen/native/cuda/Loss.cu:240: nll_loss_forward_reduce_cuda_kernel_2d: "
            "block: [0,0,0], thread: [5,0,0] Assertion `t >= 0 && t < n_classes` failed.\n" + final)
    error = extract(text)
    assert error.segments[0].origin == "cause"
    assert "Assertion `t >= 0 && t < n_classes` failed" in error.segments[0].text


def test_the_multiprocessing_bootstrap_text_is_one_message_with_its_blank_lines():
    text = """\
RuntimeError:
        An attempt has been made to start a new process before the
        current process has finished its bootstrapping phase.

        This probably means that you are not using fork to start your
        child processes and you have forgotten to use the proper idiom
        in the main module:

            if __name__ == '__main__':
                freeze_support()
                ...
"""
    message = extract(text).message
    assert "new process before the current process has finished its bootstrapping" in message
    assert "freeze_support()" in message


def test_conda_errors_keep_their_indented_details():
    text = """\
Preparing transaction: done
Verifying transaction: failed

EnvironmentNotWritableError: The current user does not have write permissions to the target \
environment.
  environment location: /opt/conda
  uid: 1001
"""
    error = extract(text)
    assert error.exc_type == "EnvironmentNotWritableError"
    assert "environment location: /opt/conda" in error.segments[0].text


def test_a_warning_in_a_log_is_found_when_nothing_failed():
    text = ("epoch 1\n/x/loss.py:535: UserWarning: Using a target size (torch.Size([16])) that is "
            "different to the input size (torch.Size([16, 1])).\n"
            "  return F.mse_loss(input, target)\n"
            "epoch 2 loss 0.3\n")
    error = extract(text)
    assert error.exc_type == "UserWarning"
    assert error.message.startswith("Using a target size (torch.Size([16]))")


def test_a_shell_error_without_an_exception_is_read_from_the_tail():
    text = ("$ tar -xzf data.tgz\n\ngzip: stdin: not in gzip format\ntar: Child returned status 1\n"
            "tar: Error is not recoverable: exiting now\n")
    error = extract(text)
    assert error.exc_type == ""
    assert "not in gzip format" in error.message and error.segments[0].origin == "tail"


def test_ipython_headers_are_not_taken_for_the_exception():
    text = ("---------------------------------------------------------------------------\n"
            "RuntimeError                              Traceback (most recent call last)\n"
            "Cell In[3], line 1\n----> 1 conv(x)\n\n"
            "RuntimeError: Given groups=1, weight of size [8, 3, 3, 3], expected input[1, 4, 8, 8] "
            "to have 3 channels, but got 4 channels instead\n")
    assert extract(text).message.startswith("Given groups=1")


def test_torchrun_rank_prefixes_are_read_through():
    error = extract("[rank1]: IndexError: Dimension out of range (expected to be in range of "
                    "[-3, 2], but got 3)")
    assert error.exc_type == "IndexError"


# ---------------------------------------------------------------- mangled pastes


def test_curly_quotes_full_width_punctuation_and_times_signs_become_ascii():
    assert clean("RuntimeError：Given groups=1, weight of size ［128, 3, 3, 3］") == \
        "RuntimeError:Given groups=1, weight of size [128, 3, 3, 3]"
    assert clean("mat1 and mat2 shapes cannot be multiplied (64×512 and 256×10)") == \
        "mat1 and mat2 shapes cannot be multiplied (64x512 and 256x10)"
    assert clean("can‘t convert “cuda:0”") == "can't convert \"cuda:0\""
    assert clean("got ［2，2400，3］ at entry 0") == "got [2,2400,3] at entry 0"


def test_invisible_and_non_breaking_spaces_html_entities_and_markdown_escapes_are_undone():
    assert clean("shape\u00a0'[2,\u200b 4]' is &#39;invalid&#39;") == "shape '[2, 4]' is 'invalid'"
    assert clean(r"input\[1, 4, 8, 8\] has \_ under") == "input[1, 4, 8, 8] has _ under"


def test_utf8_read_as_cp1252_and_terminal_colours_are_undone():
    assert clean("canâ€™t convert") == "can't convert"
    assert clean("\x1b[0;31mRuntimeError\x1b[0m: boom") == "RuntimeError: boom"


def test_ascii_letters_and_digits_are_never_changed():
    text = "Expected 4-dimensional input for 4-dimensional weight [64, 3, 7, 7], got [3, 224, 224]"
    assert clean(text) == text


def test_a_message_wrapped_by_a_terminal_is_joined():
    wrapped = "input[1, 32, 8, 3] has 3 channels, but got 32\n  channels instead"
    assert join_lines(wrapped) == "input[1, 32, 8, 3] has 3 channels, but got 32 channels instead"


# ---------------------------------------------------------------- bounded


def test_what_patterns_see_is_bounded_whatever_the_paste():
    long_line = "RuntimeError: " + "x" * 100_000
    error = extract(long_line + "\n" + "\n".join(f"  more {i}" for i in range(500)))
    for segment in error.segments:
        assert all(len(line) <= MAX_LINE for line in segment.text.splitlines())
        assert len(segment.text.splitlines()) <= MAX_SEGMENT_LINES + 1
        assert len(segment.text) <= MAX_SEGMENT_CHARS


def test_ten_megabytes_of_log_still_find_the_error_at_the_end():
    log = "epoch 1 step 100 loss 0.25 lr 0.001\n" * (10 * 1024 * 1024 // 36) + TRACEBACK
    assert extract(log).message.startswith("mat1 and mat2 shapes cannot be multiplied")


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=3000))
def test_any_text_extracts_without_error(text):
    error = extract(text)
    assert isinstance(error.message, str)
    assert all(s.text is not None for s in error.segments)
