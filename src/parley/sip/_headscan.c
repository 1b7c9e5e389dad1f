/* The SIP head scanner in compiled code: parley.sip.message's fast path for a head of the
 * common shape, in one pass over its bytes, and the common shapes of the typed values read
 * from it (URIs, name-addrs, Vias; see below).
 *
 * scan(raw, names, name_info, max_length, max_lines) takes a message's head (its start line
 * and header lines, without the empty line) and gives (start_line, items, index), where items
 * is a tuple of (canonical name, value) pairs and index maps each look-up key to the tuple of
 * its values; or None when the head is not of the common shape: longer than max_length, more
 * than max_lines lines, a byte outside printable ASCII but tab (control characters, UTF-8),
 * a CR not followed by LF or an LF not after a CR, a header line without a colon, or a name
 * that name_info does not know. The caller then takes its own (Python) paths, which accept
 * UTF-8 and name what is wrong. A name as written (the text before the colon) is looked up in
 * names first and given to name_info when it is not there; either gives (canonical name,
 * look-up key) or None. Values are stripped of the blanks around them (space and tab, the
 * only blanks such a head can hold), as str.strip() would.
 *
 * The Python fallback gives the same result for every head (tests/sip/test_fuzz.py).
 */

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <string.h>

enum { OK = 0, BAD = 1, CR = 2, LF = 3 };

/* Each byte's class: printable ASCII and tab are OK; CR and LF only as a CRLF pair; the rest
 * (control characters, DEL, every byte of a UTF-8 sequence) sends the head elsewhere. */
static unsigned char byte_class[256];

static void init_classes(void)
{
    for (int c = 0; c < 256; c++)
        byte_class[c] = (c >= 0x20 && c < 0x7f) || c == '\t' ? OK : BAD;
    byte_class['\r'] = CR;
    byte_class['\n'] = LF;
}

/* An ASCII str of n bytes at p (the caller checked every byte is below 0x80). */
static PyObject *ascii_str(const char *p, Py_ssize_t n)
{
    PyObject *s = PyUnicode_New(n, 127);
    if (s != NULL)
        memcpy(PyUnicode_1BYTE_DATA(s), p, (size_t)n);
    return s;
}

/* (canonical, key) for the name as written, from names or else name_info; NULL with no
 * error set when the name is unknown (not a token); NULL with an error on failure. The
 * result is a new reference. */
static PyObject *name_of(PyObject *names, PyObject *name_info, const char *p, Py_ssize_t n)
{
    PyObject *written = ascii_str(p, n);
    if (written == NULL)
        return NULL;
    PyObject *info = PyDict_GetItemWithError(names, written);
    if (info != NULL) {
        Py_INCREF(info);
    } else if (PyErr_Occurred()) {
        Py_DECREF(written);
        return NULL;
    } else {
        info = PyObject_CallOneArg(name_info, written);
        if (info == NULL) {
            Py_DECREF(written);
            return NULL;
        }
    }
    Py_DECREF(written);
    if (info == Py_None) {
        Py_DECREF(info);
        return NULL;
    }
    if (!PyTuple_CheckExact(info) || PyTuple_GET_SIZE(info) != 2
            || !PyUnicode_CheckExact(PyTuple_GET_ITEM(info, 0))
            || !PyUnicode_CheckExact(PyTuple_GET_ITEM(info, 1))) {
        Py_DECREF(info);
        PyErr_SetString(PyExc_TypeError, "name_info must give (canonical, key) or None");
        return NULL;
    }
    return info;
}

static PyObject *scan(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    (void)module;
    if (nargs != 5) {
        PyErr_SetString(PyExc_TypeError,
                        "scan(raw, names, name_info, max_length, max_lines) takes 5 arguments");
        return NULL;
    }
    PyObject *raw = args[0], *names = args[1], *name_info = args[2];
    if (!PyBytes_Check(raw) || !PyDict_Check(names) || !PyCallable_Check(name_info)) {
        PyErr_SetString(PyExc_TypeError, "scan(bytes, dict, callable, int, int)");
        return NULL;
    }
    Py_ssize_t max_length = PyLong_AsSsize_t(args[3]);
    Py_ssize_t max_lines = PyLong_AsSsize_t(args[4]);
    if ((max_length == -1 || max_lines == -1) && PyErr_Occurred())
        return NULL;
    const char *data = PyBytes_AS_STRING(raw);
    Py_ssize_t size = PyBytes_GET_SIZE(raw);
    if (size > max_length)
        Py_RETURN_NONE;

    /* One pass: every byte's class, and where each line ends (at its CR). */
    Py_ssize_t ends_stack[160];
    Py_ssize_t *ends = ends_stack;
    Py_ssize_t capacity = (Py_ssize_t)(sizeof ends_stack / sizeof ends_stack[0]);
    Py_ssize_t lines = 0;
    PyObject *result = NULL;
    for (Py_ssize_t i = 0; i < size; i++) {
        unsigned char cls = byte_class[(unsigned char)data[i]];
        if (cls == OK)
            continue;
        if (cls != CR || i + 1 >= size || data[i + 1] != '\n')
            Py_RETURN_NONE;  /* a control byte, non-ASCII, a lone CR or a lone LF */
        if (lines + 1 >= max_lines || lines + 1 >= capacity)
            Py_RETURN_NONE;  /* too many lines (the caller's own path says so) */
        ends[lines++] = i;
        i++;  /* past the LF */
    }
    ends[lines] = size;  /* the last line ends with the head */

    PyObject *start = ascii_str(data, ends[0]);
    if (start == NULL)
        return NULL;
    PyObject *items = PyTuple_New(lines);
    PyObject *index = PyDict_New();
    if (items == NULL || index == NULL)
        goto done;
    for (Py_ssize_t k = 1; k <= lines; k++) {
        const char *line = data + ends[k - 1] + 2;
        Py_ssize_t length = ends[k] - (ends[k - 1] + 2);
        const char *colon = memchr(line, ':', (size_t)length);
        if (colon == NULL)
            goto none;
        PyObject *info = name_of(names, name_info, line, colon - line);
        if (info == NULL) {
            if (PyErr_Occurred())
                goto done;
            goto none;
        }
        const char *v = colon + 1, *end = line + length;
        while (v < end && (*v == ' ' || *v == '\t'))
            v++;
        while (end > v && (end[-1] == ' ' || end[-1] == '\t'))
            end--;
        PyObject *value = ascii_str(v, end - v);
        if (value == NULL) {
            Py_DECREF(info);
            goto done;
        }
        PyObject *canonical = PyTuple_GET_ITEM(info, 0), *key = PyTuple_GET_ITEM(info, 1);
        PyObject *pair = PyTuple_Pack(2, canonical, value);
        if (pair == NULL) {
            Py_DECREF(value);
            Py_DECREF(info);
            goto done;
        }
        PyTuple_SET_ITEM(items, k - 1, pair);
        /* Each key's values in a tuple: a tuple of str leaves the collector's lists at its
         * first pass, where a list would be traversed as long as the message lives. */
        PyObject *values = PyDict_GetItemWithError(index, key);
        int failed;
        if (values != NULL) {
            Py_ssize_t n = PyTuple_GET_SIZE(values);
            PyObject *more = PyTuple_New(n + 1);
            if (more == NULL) {
                failed = -1;
            } else {
                for (Py_ssize_t j = 0; j < n; j++)
                    PyTuple_SET_ITEM(more, j, Py_NewRef(PyTuple_GET_ITEM(values, j)));
                PyTuple_SET_ITEM(more, n, Py_NewRef(value));
                failed = PyDict_SetItem(index, key, more);
                Py_DECREF(more);
            }
        } else if (PyErr_Occurred()) {
            failed = -1;
        } else {
            values = PyTuple_Pack(1, value);
            if (values == NULL) {
                failed = -1;
            } else {
                failed = PyDict_SetItem(index, key, values);
                Py_DECREF(values);
            }
        }
        Py_DECREF(value);
        Py_DECREF(info);
        if (failed)
            goto done;
    }
    result = PyTuple_Pack(3, start, items, index);
    goto done;
none:
    result = Py_NewRef(Py_None);
done:
    Py_DECREF(start);
    Py_XDECREF(items);
    Py_XDECREF(index);
    return result;
}

/* --- typed values of the common shape ------------------------------------------------------
 * Each function below reads one header value (a str) of the common shape, in the same terms
 * as parley.sip's regular expressions for it, and gives its value as an instance of the class
 * passed in (SipUri, NameAddr, Via: frozen dataclasses, whose fields it sets); None means "not the
 * common shape here": anything outside printable ASCII and tab, a backslash in a quoted
 * display name, or any other shape. The Python parsers then read the text from the start,
 * so they alone decide what every other text means and which error it gets. */

static PyObject *SIP, *SIPS;  /* the schemes, shared */

/* The text of a str in printable ASCII and tab, or NULL (no error set) when it is not. */
static const char *printable(PyObject *text, Py_ssize_t *n)
{
    if (!PyUnicode_Check(text) || !PyUnicode_IS_ASCII(text))
        return NULL;
    const char *p = (const char *)PyUnicode_1BYTE_DATA(text);
    *n = PyUnicode_GET_LENGTH(text);
    for (Py_ssize_t i = 0; i < *n; i++)
        if (byte_class[(unsigned char)p[i]] != OK)  /* the head's own test, CR/LF refused */
            return NULL;
    return p;
}

static int is_alnum(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

/* parley.sip.uri._FAST's character classes. */
static int uri_user_char(unsigned char c)
{
    return is_alnum(c) || (c != 0 && strchr("-_.!~*'()&=+$,", c) != NULL);
}

static int host_char(unsigned char c)
{
    return is_alnum(c) || c == '-' || c == '.';
}

static int uri_param_char(unsigned char c)
{
    return is_alnum(c) || (c != 0 && strchr("-_.!~*'()/:&+$=", c) != NULL);
}

/* _PARAMS_FAST's classes (after the ASCII check: printable but these, no blanks). */
static int param_name_char(unsigned char c)
{
    return c > 0x20 && c < 0x7f && strchr(";=\"<>,", c) == NULL;
}

static int param_value_char(unsigned char c)
{
    return c > 0x20 && c < 0x7f && c != ';' && c != '"';
}

/* ";name=value;flag..." from p to end, in a URI's terms (uri) or a header's, as
 * ((name, value or None), ...); NULL with no error when it is not of that shape. */
static PyObject *params(const char *p, const char *end, int uri)
{
    Py_ssize_t count = 0;
    for (const char *q = p; q < end; q++)
        count += *q == ';';
    PyObject *out = PyTuple_New(count);
    if (out == NULL)
        return NULL;
    Py_ssize_t k = 0;
    while (p < end) {
        if (*p != ';')
            goto none;
        const char *name = ++p, *eq = NULL;
        if (uri) {  /* [chars incl. '=']+, the name before the first '=' and not empty */
            while (p < end && uri_param_char((unsigned char)*p)) {
                if (*p == '=' && eq == NULL)
                    eq = p;
                p++;
            }
            if (p == name || eq == name)
                goto none;
        } else {  /* name[=value] */
            while (p < end && param_name_char((unsigned char)*p))
                p++;
            if (p == name)
                goto none;
            if (p < end && *p == '=') {
                eq = p++;
                while (p < end && param_value_char((unsigned char)*p))
                    p++;
            }
        }
        PyObject *key = ascii_str(name, (eq ? eq : p) - name);
        PyObject *value = eq ? ascii_str(eq + 1, p - eq - 1) : Py_NewRef(Py_None);
        PyObject *pair = key && value ? PyTuple_Pack(2, key, value) : NULL;
        Py_XDECREF(key);
        Py_XDECREF(value);
        if (pair == NULL) {
            Py_DECREF(out);
            return NULL;
        }
        PyTuple_SET_ITEM(out, k++, pair);  /* one item per ';': count of them in all */
    }
    return out;
none:
    Py_DECREF(out);
    return NULL;
}

/* The field names, interned once, and the empty tuple. */
static PyObject *F_SCHEME, *F_USER, *F_PASSWORD, *F_HOST, *F_PORT, *F_PARAMS, *F_HEADERS,
    *F_URI, *F_DISPLAY_NAME, *F_TRANSPORT, *NO_ITEMS;

/* An instance of the (frozen dataclass) type cls with its fields set as names[i] = values[i],
 * without running __init__ or the class's own __setattr__ (what parley.sip.uri.frozen_value
 * does in Python); the values are borrowed. */
static PyObject *value(PyObject *cls, PyObject **names, PyObject **values, int n)
{
    if (!PyType_Check(cls)) {
        PyErr_SetString(PyExc_TypeError, "expected a class");
        return NULL;
    }
    PyObject *obj = PyBaseObject_Type.tp_new((PyTypeObject *)cls, NO_ITEMS, NULL);
    if (obj == NULL)
        return NULL;
    for (int i = 0; i < n; i++) {
        if (PyObject_GenericSetAttr(obj, names[i], values[i]) < 0) {
            Py_DECREF(obj);
            return NULL;
        }
    }
    return obj;
}


static int init_fields(void)
{
    PyObject **fields[] = {&F_SCHEME, &F_USER, &F_PASSWORD, &F_HOST, &F_PORT, &F_PARAMS,
                           &F_HEADERS, &F_URI, &F_DISPLAY_NAME, &F_TRANSPORT};
    const char *names[] = {"scheme", "user", "password", "host", "port", "params", "headers",
                           "uri", "display_name", "transport"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if ((*fields[i] = PyUnicode_InternFromString(names[i])) == NULL)
            return -1;
    NO_ITEMS = PyTuple_New(0);
    return NO_ITEMS == NULL ? -1 : 0;
}

/* 1-5 digits from p to end in 1..65535; -1 when not. */
static long port_of(const char *p, const char *end)
{
    if (end - p < 1 || end - p > 5)
        return -1;
    long port = 0;
    for (; p < end; p++) {
        if (*p < '0' || *p > '9')
            return -1;
        port = port * 10 + (*p - '0');
    }
    return port > 0 && port < 65536 ? port : -1;
}

static PyObject *port_obj(long port)
{
    return port < 0 ? Py_NewRef(Py_None) : PyLong_FromLong(port);
}

/* sip:user@host:port;params of parley.sip.uri._FAST from p to end, as a cls (SipUri); NULL
 * with no error when it is not. */
static PyObject *uri_parts(PyObject *cls, const char *p, const char *end)
{
    PyObject *scheme;
    if (end - p > 4 && memcmp(p, "sip:", 4) == 0) {
        scheme = SIP;
        p += 4;
    } else if (end - p > 5 && memcmp(p, "sips:", 5) == 0) {
        scheme = SIPS;
        p += 5;
    } else {
        return NULL;
    }
    const char *user = NULL, *user_end = NULL, *q = p;
    while (q < end && uri_user_char((unsigned char)*q))
        q++;
    if (q < end && *q == '@' && q > p) {
        user = p;
        user_end = q;
        p = q + 1;
    }
    const char *host = p;
    while (p < end && host_char((unsigned char)*p))
        p++;
    if (p == host)
        return NULL;
    const char *host_end = p;
    long port = -1;
    if (p < end && *p == ':') {
        const char *digits = ++p;
        while (p < end && *p >= '0' && *p <= '9')
            p++;
        port = port_of(digits, p);
        if (port < 0)
            return NULL;
    }
    PyObject *ps = params(p, end, 1);
    if (ps == NULL)
        return NULL;
    PyObject *u = user ? ascii_str(user, user_end - user) : Py_NewRef(Py_None);
    PyObject *h = ascii_str(host, host_end - host);
    PyObject *po = port_obj(port);
    PyObject *names[] = {F_SCHEME, F_USER, F_PASSWORD, F_HOST, F_PORT, F_PARAMS, F_HEADERS};
    PyObject *values[] = {scheme, u, Py_None, h, po, ps, NO_ITEMS};
    PyObject *out = u && h && po ? value(cls, names, values, 7) : NULL;
    Py_XDECREF(u);
    Py_XDECREF(h);
    Py_XDECREF(po);
    Py_DECREF(ps);
    return out;
}

static void strip_blanks(const char **p, const char **end)
{
    while (*p < *end && (**p == ' ' || **p == '\t'))
        (*p)++;
    while (*end > *p && ((*end)[-1] == ' ' || (*end)[-1] == '\t'))
        (*end)--;
}

/* A None result that is not an error: NULL with no exception becomes None. */
static PyObject *or_none(PyObject *result)
{
    if (result == NULL && !PyErr_Occurred())
        Py_RETURN_NONE;
    return result;
}

/* The last of nargs arguments (want of them, as usage says) as printable text from *p to
 * *end: 1 when it is, 0 when it is not (the caller gives None), -1 on a wrong call. */
static int text_arg(PyObject *const *args, Py_ssize_t nargs, Py_ssize_t want,
                    const char *usage, const char **p, const char **end)
{
    if (nargs != want) {
        PyErr_Format(PyExc_TypeError, "%s takes %zd arguments", usage, want);
        return -1;
    }
    Py_ssize_t n;
    *p = printable(args[want - 1], &n);
    if (*p == NULL)
        return 0;
    *end = *p + n;
    return 1;
}

static PyObject *uri(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    (void)module;
    const char *p, *end;
    int ok = text_arg(args, nargs, 2, "uri(SipUri, text)", &p, &end);
    if (ok <= 0)
        return ok < 0 ? NULL : Py_NewRef(Py_None);
    strip_blanks(&p, &end);
    return or_none(uri_parts(args[0], p, end));
}

static PyObject *name_addr(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    (void)module;
    const char *p, *end;
    int ok = text_arg(args, nargs, 3, "name_addr(NameAddr, SipUri, text)", &p, &end);
    if (ok <= 0)
        return ok < 0 ? NULL : Py_NewRef(Py_None);
    PyObject *cls = args[0], *uri_cls = args[1];
    strip_blanks(&p, &end);
    const char *display = p, *display_end;
    if (p < end && *p == '"') {  /* "quoted" [blanks] <, no escapes (Python reads those) */
        display = ++p;
        while (p < end && *p != '"') {
            if (*p == '\\')
                Py_RETURN_NONE;
            p++;
        }
        if (p == end)
            Py_RETURN_NONE;
        display_end = p++;
        while (p < end && (*p == ' ' || *p == '\t'))
            p++;
        if (p == end || *p != '<')
            Py_RETURN_NONE;
    } else {  /* plain text up to the '<' */
        while (p < end && *p != '<') {
            if (*p == '"' || *p == '>' || *p == ';' || *p == ',')
                Py_RETURN_NONE;
            p++;
        }
        if (p == end)
            Py_RETURN_NONE;
        display_end = p;
        strip_blanks(&display, &display_end);
    }
    const char *uri_start = ++p;
    while (p < end && *p != '>') {
        if (*p == '<' || *p == '"' || *p == ' ' || *p == '\t')
            Py_RETURN_NONE;
        p++;
    }
    if (p == end || p == uri_start)
        Py_RETURN_NONE;
    PyObject *u = uri_parts(uri_cls, uri_start, p);
    if (u == NULL)
        return or_none(NULL);
    PyObject *ps = params(p + 1, end, 0);
    if (ps == NULL) {
        Py_DECREF(u);
        return or_none(NULL);
    }
    PyObject *d = display_end > display ? ascii_str(display, display_end - display)
                                        : Py_NewRef(Py_None);
    PyObject *names[] = {F_URI, F_DISPLAY_NAME, F_PARAMS};
    PyObject *values[] = {u, d, ps};
    PyObject *out = d ? value(cls, names, values, 3) : NULL;
    Py_XDECREF(d);
    Py_DECREF(u);
    Py_DECREF(ps);
    return out;
}

static PyObject *via(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    (void)module;
    const char *p, *end;
    int ok = text_arg(args, nargs, 2, "via(Via, text)", &p, &end);
    if (ok <= 0)
        return ok < 0 ? NULL : Py_NewRef(Py_None);
    PyObject *cls = args[0];
    const char *cut = memchr(p, ';', (size_t)(end - p));
    if (cut == NULL)
        cut = end;
    if (cut - p < 8 || memcmp(p, "SIP/2.0/", 8) != 0)
        Py_RETURN_NONE;
    p += 8;
    char transport[16];
    Py_ssize_t t = 0;
    for (; p < cut && ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z')); p++) {
        if (t == (Py_ssize_t)sizeof transport)
            Py_RETURN_NONE;  /* no such transport: the Python parser reads it */
        transport[t++] = (char)(*p >= 'a' ? *p - 'a' + 'A' : *p);
    }
    if (t == 0 || p == cut || *p != ' ')
        Py_RETURN_NONE;
    const char *host = ++p;
    while (p < cut && host_char((unsigned char)*p))
        p++;
    if (p == host)
        Py_RETURN_NONE;
    const char *host_end = p;
    long port = -1;
    if (p < cut && *p == ':') {
        port = port_of(p + 1, cut);
        if (port < 0)
            Py_RETURN_NONE;
    } else if (p != cut) {
        Py_RETURN_NONE;
    }
    PyObject *ps = params(cut, end, 0);
    if (ps == NULL)
        return or_none(NULL);
    PyObject *tr = ascii_str(transport, t);
    if (tr != NULL)
        PyUnicode_InternInPlace(&tr);
    PyObject *h = ascii_str(host, host_end - host);
    PyObject *po = port_obj(port);
    PyObject *names[] = {F_TRANSPORT, F_HOST, F_PORT, F_PARAMS};
    PyObject *values[] = {tr, h, po, ps};
    PyObject *out = tr && h && po ? value(cls, names, values, 4) : NULL;
    Py_XDECREF(tr);
    Py_XDECREF(h);
    Py_XDECREF(po);
    Py_DECREF(ps);
    return out;
}

static PyMethodDef methods[] = {
    {"scan", (PyCFunction)(void (*)(void))scan, METH_FASTCALL,
     "scan(raw, names, name_info, max_length, max_lines) -> (start, items, index) or None"},
    {"uri", (PyCFunction)(void (*)(void))uri, METH_FASTCALL,
     "uri(SipUri, text) -> SipUri or None"},
    {"name_addr", (PyCFunction)(void (*)(void))name_addr, METH_FASTCALL,
     "name_addr(NameAddr, SipUri, text) -> NameAddr or None"},
    {"via", (PyCFunction)(void (*)(void))via, METH_FASTCALL, "via(Via, text) -> Via or None"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT, "parley.sip._headscan",
    "The SIP head scanner in compiled code (see parley.sip.message).", -1, methods,
    NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__headscan(void)
{
    init_classes();
    SIP = PyUnicode_InternFromString("sip");
    SIPS = PyUnicode_InternFromString("sips");
    if (SIP == NULL || SIPS == NULL || init_fields() < 0)
        return NULL;
    return PyModule_Create(&module_def);
}
