package org.densify.rlhf.credit;

import java.util.List;

/**
 * The credit methods there are: adding one is adding its record to {@link Credit} and here. A class of
 * its own rather than a field of {@link Credit}, since a record's constructor initialises {@link
 * Credit}, which must not then need the records' descriptions.
 */
final class CreditMethods {
    static final List<Credit.Method> ALL = List.of(Credit.Sparse.METHOD, Credit.Uniform.METHOD, Credit.Abc.METHOD, Credit.AbcD.METHOD,
            Credit.AbcD2.METHOD, Credit.AbcPolicyFinal.METHOD, Credit.PrefixDiff.METHOD);

    static final List<String> NAMES = ALL.stream().map(Credit.Method::name).toList();

    private CreditMethods() {}
}
