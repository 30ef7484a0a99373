/* What kv_select's f64 passes share (kv_select.comp, kv_select_sgw.comp), included after the op's
 * scratch binding: doubles in the scratch buffer as two words, low first (ld_d, st_d), and exp_d. */
double ld_d(uint at) { return packDouble2x32(uvec2(scratch[at], scratch[at + 1u])); }
void st_d(uint at, double x)
{
    uvec2 u = unpackDouble2x32(x);
    scratch[at] = u.x, scratch[at + 1u] = u.y;
}

/* exp(x) for x <= 0 (NaN: NaN): x = k ln2 + r (Cody-Waite, |r| <= ln2/2),
 * Taylor to degree 13 (truncation < 0.05 ulp), times 2^k; 0 below -745.2
 * (and where the device flushes subnormals) */
double exp_d(double x)
{
    if (!(x >= -745.2LF))
        return x != x ? x : 0.0LF;
    double k = floor(x * 1.4426950408889634LF + 0.5LF);
    double r = (x - k * 6.93147180369123816490e-01LF) - k * 1.90821492927058770002e-10LF;
    double y = 1.6059043836821613e-10LF;
    y = y * r + 2.08767569878681e-09LF;
    y = y * r + 2.505210838544172e-08LF;
    y = y * r + 2.755731922398589e-07LF;
    y = y * r + 2.7557319223985893e-06LF;
    y = y * r + 2.48015873015873e-05LF;
    y = y * r + 1.984126984126984e-04LF;
    y = y * r + 1.388888888888889e-03LF;
    y = y * r + 8.333333333333333e-03LF;
    y = y * r + 4.1666666666666664e-02LF;
    y = y * r + 1.6666666666666666e-01LF;
    y = y * r + 0.5LF;
    y = y * r + 1.0LF;
    y = y * r + 1.0LF;
    int ki = int(k);
    return ki < -1000 ? ldexp(ldexp(y, -1000), ki + 1000) : ldexp(y, ki);
}
